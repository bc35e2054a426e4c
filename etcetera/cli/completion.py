"""`etc completion bash|zsh`: a shell completion script generated from the argument parser, so
it knows every command and option without a runtime dependency; dataset names come from
`etc list --names` (the local home) when the shell asks."""

from __future__ import annotations

import argparse

# Commands whose positional arguments are (or start with) a dataset name of the local home.
NAME_COMMANDS = ("push", "pull", "purge", "info", "versions", "diff", "status", "verify", "tag")
SHELLS = ("bash", "zsh")


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return [s for action in parser._actions for s in action.option_strings]


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _valued(parser: argparse.ArgumentParser) -> list[str]:
    """Global options that take a value (the word after them is not the command)."""
    return [s for a in parser._actions if a.option_strings and a.nargs != 0 for s in a.option_strings]


def bash_script(parser: argparse.ArgumentParser) -> str:
    """A bash script defining `_etc_complete` and registering it for `etc`."""
    commands = _commands(parser)
    cases = "\n".join(f'        {name}) opts="{" ".join(_options(p))}";;' for name, p in commands.items())
    valued = "|".join(_valued(parser)) or "--"
    return f"""# etc shell completion (bash): eval "$(etc completion bash)" in ~/.bashrc
_etc_complete() {{
    [[ -n ${{ZSH_VERSION-}} ]] && setopt localoptions ksharrays  # zsh: index COMP_WORDS from 0, as bash
    local cur=${{COMP_WORDS[COMP_CWORD]}} cmd="" opts="" i
    COMPREPLY=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${{COMP_WORDS[i]}} in
            {valued}) ((i++));;
            -*) ;;
            *) cmd=${{COMP_WORDS[i]}}; break;;
        esac
    done
    if [[ -z $cmd ]]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "{" ".join(_options(parser))}" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "{" ".join(commands)}" -- "$cur"))
        fi
        return 0
    fi
    case $cmd in
{cases}
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return 0
    fi
    case $cmd in
        {"|".join(NAME_COMMANDS)})
            COMPREPLY=($(compgen -W "$(command etc list --names 2>/dev/null)" -- "$cur"));;
        completion)
            COMPREPLY=($(compgen -W "{" ".join(SHELLS)}" -- "$cur"));;
    esac
    return 0
}}
complete -o default -F _etc_complete etc
"""


def zsh_script(parser: argparse.ArgumentParser) -> str:
    """The bash script under zsh's bash-completion emulation (after compinit, as in ~/.zshrc)."""
    return ("# etc shell completion (zsh): eval \"$(etc completion zsh)\" in ~/.zshrc, after compinit\n"
            "autoload -U +X bashcompinit && bashcompinit\n" + bash_script(parser).split("\n", 1)[1])


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    return bash_script(parser) if shell == "bash" else zsh_script(parser)
