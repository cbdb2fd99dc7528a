"""Scaling out: torch threads per dask worker, so that workers do not oversubscribe the cores.

scikit-learn searches go past one machine the scikit-learn way, through
``joblib.parallel_backend("dask")`` on a ``dask.distributed`` cluster. Each
worker process runs torch, and torch starts as many threads as the machine has
cores: four such workers on two cores fight over them (measured: four times
slower than two workers of one thread each). :func:`limit_torch_threads` gives
each worker as many torch threads as it has dask threads.
"""

from __future__ import annotations

from numbers import Integral

__all__ = ["TorchThreadLimit", "limit_torch_threads"]

try:
    from distributed import WorkerPlugin
except ImportError:  # dask is an optional dependency (the ``dist`` extra)
    WorkerPlugin = None


class TorchThreadLimit(WorkerPlugin or object):
    """A dask worker plugin that sets ``torch.set_num_threads`` on each worker.

    Parameters
    ----------
    n_threads : int or None, default=None
        None: the worker's number of dask threads.

    Examples
    --------
    Dask calls ``setup`` on each worker; here a stand-in worker with 2 threads:

    >>> import torch
    >>> from types import SimpleNamespace
    >>> from sklearn_robust.parallel import TorchThreadLimit
    >>> before = torch.get_num_threads()
    >>> TorchThreadLimit().setup(SimpleNamespace(state=SimpleNamespace(nthreads=2)))
    >>> torch.get_num_threads()
    2
    >>> torch.set_num_threads(before)
    """

    idempotent = True

    def __init__(self, n_threads=None):
        self.n_threads = n_threads

    def setup(self, worker):
        """Set the worker's torch thread count (dask calls this on each worker).

        Parameters
        ----------
        worker : distributed.Worker
            The worker starting up.
        """
        import torch

        nthreads = getattr(getattr(worker, "state", worker), "nthreads", 1)
        torch.set_num_threads(self.n_threads or nthreads)


def limit_torch_threads(client, n_threads=None):
    """Limit torch's intra-op threads on every worker of a dask cluster, now and on restart.

    Parameters
    ----------
    client : distributed.Client
        Client of the cluster whose workers are limited.
    n_threads : int or None, default=None
        Threads per worker; None: the worker's own number of dask threads
        (``threads_per_worker``), so that workers times threads = cores.

    Returns
    -------
    dict
        Each worker's address and its torch thread count after the change.

    Examples
    --------
    >>> from distributed import Client, LocalCluster          # doctest: +SKIP
    >>> client = Client(LocalCluster(n_workers=2, threads_per_worker=1))  # doctest: +SKIP
    >>> limit_torch_threads(client)                          # doctest: +SKIP
    {'tcp://127.0.0.1:...': 1, 'tcp://127.0.0.1:...': 1}
    """
    if WorkerPlugin is None:
        raise ImportError(
            "dask.distributed is needed to scale out: pip install 'sklearn-robust[dist]'"
        )
    if n_threads is not None and (not isinstance(n_threads, Integral) or n_threads < 1):
        raise ValueError(f"n_threads must be None or a positive integer; got {n_threads!r}.")
    client.register_plugin(TorchThreadLimit(n_threads), name="sklearn-robust-torch-threads")
    return client.run(_torch_threads)


def _torch_threads():
    import torch

    return torch.get_num_threads()
