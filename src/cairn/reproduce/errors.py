"""Why a run cannot be reproduced: one base class for every refusal of `cairn runs reproduce`."""

from cairn.errors import CairnError


class CannotReproduce(CairnError):
    """The run's record, its repository or the environment of now does not allow a faithful
    re-run: no commit, no command line, a repository gone, a git command that failed."""
