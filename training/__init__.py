"""Continued-pretraining trainer. Reads only a shard folder on disk; never imports `pipeline`."""
