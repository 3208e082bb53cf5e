"""Training: the one epoch loop (resume, epochs, checkpoint, progress, cancel) that every training job runs.

>>> from cnn_demo import training
>>> last = training.fit(epochs, run_epoch, generator=gen, state=..., restore=..., checkpoint=..., progress=...)

Fine-tuning (``finetune.train``), the U-Net job and the localization job all call :func:`fit`, and train their
batches with :func:`train_epoch`.
"""

from cnn_demo.training.loop import fit, train_epoch

__all__ = ["fit", "train_epoch"]
