"""dagster-etcetera: Dagster assets stored as versioned etcetera datasets.

    from dagster import Definitions, EnvVar
    from dagster_etcetera import EtcIOManager, EtcResource

    etc = EtcResource(url="s3://bucket", aws_secret_access_key=EnvVar("AWS_SECRET_ACCESS_KEY"), ...)
    defs = Definitions(assets=[...], resources={"etc": etc, "io_manager": EtcIOManager(etc=etc)})
"""

__version__ = "0.1.0"

from .io_manager import EtcIOManager  # noqa: E402
from .lineage import RemoteDataset, content_version, dataset_uri  # noqa: E402
from .naming import dataset_name  # noqa: E402
from .observe import etc_dataset_check, etc_source_asset, etc_version_sensor  # noqa: E402
from .resources import EtcResource  # noqa: E402

__all__ = ["EtcIOManager", "EtcResource", "RemoteDataset", "content_version", "dataset_name", "dataset_uri",
           "etc_dataset_check", "etc_source_asset", "etc_version_sensor", "__version__"]
