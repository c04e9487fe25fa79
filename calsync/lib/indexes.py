from django.db import models


class Index(models.Index):
    """An index whose name may be as long as PostgreSQL allows (63 bytes).

    Django's portable limit is 30 characters (for Oracle); the seed's index names, which operators and
    runbooks refer to, are longer. calsync runs on PostgreSQL and SQLite only.
    """

    max_name_length = 63
