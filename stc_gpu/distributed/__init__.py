"""Running stc-gpu stages over several processes, GPUs or machines (``torchrun``)."""
from stc_gpu.distributed.torchrun import (DistributedContext, RankFailedError, distributed_context,
                                          extract_distributed)

__all__ = ["DistributedContext", "RankFailedError", "distributed_context", "extract_distributed"]
