"""What an image evaluation measures with a seed's fixtures: the image SWD of the decoded
prior codes against the test images and the floor, both as ``image_swd`` gives them with the
seed and padding of the run; the test images' side computed at the first evaluation only."""

import pytest
import torch

from wae_bench import tasks
from wae_bench.image_swd import image_swd
from wae_bench.tasks.image.task import decode


@pytest.mark.parametrize("padding", ["zeros", "reflect"])
def test_the_evaluation_and_the_floor_are_image_swd_with_the_runs_seed_and_padding(padding):
    task, cpu = tasks.get("image"), torch.device("cpu")
    cfg = task.config(eval_samples=64, latent_dim=8, swd_padding=padding).validate()
    ctx = task.setup(cfg, cpu)
    fixtures = task.fixtures(ctx, 3)
    torch.manual_seed(0)
    models = task.build_models(ctx)
    with torch.no_grad():  # as a run evaluates
        generated = decode(models["decoder"], fixtures.generation_prior)
        task.hooks.images(ctx, fixtures, models)  # reads the test images, as after_run does
        assert "swd_reference" not in vars(fixtures)  # not computed before an evaluation
        row = task.evaluate(ctx, fixtures, models)
    test, train = fixtures.test_images, fixtures.floor_images
    # the same products summed in the same order: equal up to float rounding
    assert row["image_swd"] == pytest.approx(
        image_swd(test, generated, seed=3, padding=padding), rel=1e-6)
    assert row["image_swd_floor"] == pytest.approx(
        image_swd(test, train, seed=3, padding=padding), rel=1e-6)
    assert len(train) == len(test) == 64 and not torch.equal(train, test)
