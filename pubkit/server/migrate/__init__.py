"""``pubkit migrate``: move a pypiserver directory or a pypicloud bucket, and the users of an
htpasswd file, into pubkit. Pure judging of layouts and hashes in :mod:`.layouts` and
:mod:`.htpasswd`, reading the old index in :mod:`.sources`, the run in :mod:`.run`."""
