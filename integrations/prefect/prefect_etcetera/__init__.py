"""prefect-etcetera: etcetera datasets in Prefect 3 flows.

    from prefect_etcetera import EtcRepository, pull_dataset, push_dataset

`EtcRepository` is exposed here so that `prefect block register -m prefect_etcetera` finds it.
"""

from .repository import EtcRepository
from .tasks import pull_dataset, push_dataset, resolve_config

__version__ = "0.1.0"
__all__ = ["EtcRepository", "push_dataset", "pull_dataset", "resolve_config"]
