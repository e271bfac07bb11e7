"""Where the run loop's events go: the result CSV always, TensorBoard on request.

A logger receives each evaluation row as it is recorded (``row``), optionally image grids
(``images``, only asked for when ``wants_images``), and ``close`` at the end. MLflow or
others plug in by implementing these three methods.
"""

from pathlib import Path

from torch import Tensor

from . import run_files
from .errors import UsageError


class CsvLogger:
    """Every row of every run in one CSV, rewritten atomically after each new row."""

    wants_images = False

    def __init__(self, path: Path, columns: tuple[str, ...]):
        self.path, self.columns, self.rows = Path(path), list(columns), []

    def row(self, run_id: str, row: dict) -> None:
        """Keep ``row`` and rewrite the CSV, atomically, with every row so far."""
        self.rows.append(row)
        run_files.write_rows(self.path, self.rows, self.columns)

    def images(self, run_id: str, epoch: int, grids: dict[str, Tensor]) -> None:
        """Nothing: the CSV holds no images (``wants_images`` is False)."""

    def close(self) -> None:
        """Nothing: the file is complete after every row."""


class TensorBoardLogger:
    """Scalars ``<run>/<column>`` against the epoch, and image grids, in ``log_dir``."""

    wants_images = True

    def __init__(self, log_dir: Path, columns: tuple[str, ...]):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise UsageError(
                '--tensorboard needs the tensorboard package: pip install -e ".[tensorboard]"'
            ) from None
        self.writer = SummaryWriter(str(log_dir))
        self.columns = [c for c in columns if c not in ("method", "lam", "seed", "epoch")]

    def row(self, run_id: str, row: dict) -> None:
        """Each numeric, non-NaN column of ``row`` as the scalar ``<run>/<column>`` at its epoch."""
        for column in self.columns:
            value = row.get(column)
            if isinstance(value, (int, float)) and value == value:  # skip None and NaN
                self.writer.add_scalar(f"{run_id}/{column}", value, row["epoch"])
        self.writer.flush()

    def images(self, run_id: str, epoch: int, grids: dict[str, Tensor]) -> None:
        """Each grid as the image ``<run>/<tag>`` at ``epoch``."""
        for tag, grid in grids.items():
            self.writer.add_image(f"{run_id}/{tag}", grid, epoch)
        self.writer.flush()

    def close(self) -> None:
        """Close the TensorBoard writer."""
        self.writer.close()
