"""The read side: what each root query returns, and the batch fetches behind the loaders.

One module per domain, each function given the session and the caller's Principal:
it checks the role (`access.may_read`), keeps a CUSTOMER to its own company
(`access.visible`), and returns rows or a page (api.pagination). Resolvers in
api/<domain>/queries.py call one of these and wrap the rows; relations between
rows are loaded in batches by api.loaders. Who may read what, and which rows a
customer sees, is decided in accounting.access alone.
"""
