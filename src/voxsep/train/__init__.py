"""Training: ``train(config, exp_dir, resume=False, init_from=None)``; see ``trainer``.

``torchrun --nproc_per_node=N -m voxsep.train RECIPE [key=value ...] --exp-dir DIR``
runs the same loop with DDP (``voxsep.train.distributed``).
"""

from voxsep.train.experiment import ExperimentInUseError, ExperimentLockedError
from voxsep.train.trainer import CheckpointWriteError, TrainingAborted, TrainResult, train

__all__ = ["train", "TrainResult", "TrainingAborted", "CheckpointWriteError", "ExperimentInUseError",
           "ExperimentLockedError"]
