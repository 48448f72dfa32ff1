"""Executors: back-ends behind ``executors.base.Executor`` (local, SSH, AWS SSM), one module each."""
