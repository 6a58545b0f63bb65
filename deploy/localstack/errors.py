"""The one error the local stack raises: something in the template or on moto that it cannot match."""


class LocalStackError(RuntimeError):
    pass
