"""Shards on a Dask cluster: the batch's one rate budget kept on the scheduler (`bank_service`), a
worker's link to it (`link`), and what a worker runs for one shard (`shard_job`).

Dask appears only here and in `rowrelay.flows`; the budget's arithmetic (`rowrelay.tasks.llm.bank`)
knows nothing of it and is tested on a fake clock.
"""
