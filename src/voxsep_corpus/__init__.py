"""Corpus preparers for ``voxsep prepare <name>``: one module per corpus (see ``voxsep.commands.prepare``)."""
