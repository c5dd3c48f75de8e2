"""User-facing errors: anything a user can cause by config or input raises one of these."""


class UserError(Exception):
    """An error the user can fix; the CLI prints its message as one line and exits with code 2."""


class ConfigError(UserError):
    """A config value, name or combination that cannot work."""


class DataError(UserError):
    """A dataset that cannot be found, downloaded or read."""
