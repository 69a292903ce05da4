"""The convnet builds from the search space's defaults and maps images to class probabilities."""

import keras_tuner
import numpy as np
import pytest

from models import model as model_lib
from models import tuning


@pytest.mark.parametrize("image_shape", [(8, 8, 1), (28, 28, 1), (32, 32, 3)])
def test_builds_from_default_hyperparameters_and_predicts_a_batch(image_shape):
    model = model_lib.build_model(tuning.search_space(), image_shape, num_classes=10, total_steps=10)
    batch = np.random.default_rng(0).random((4, *image_shape), dtype=np.float32)
    probabilities = model.predict(batch, verbose=0)
    assert probabilities.shape == (4, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_every_point_of_the_space_builds():
    space = tuning.search_space()
    for name in ("conv_filters", "kernel_size", "dense_units", "dropout", "learning_rate"):
        assert name in space.values
    for filters, kernel in [(16, 5), (48, 3)]:
        hp = keras_tuner.HyperParameters.from_config(space.get_config())
        hp.values.update(conv_filters=filters, kernel_size=kernel)
        model = model_lib.build_model(hp, (28, 28, 1), num_classes=3, total_steps=10)
        assert model.output_shape == (None, 3)
        assert model.layers[1].filters == filters and model.layers[1].kernel_size == (kernel, kernel)


def test_a_few_steps_of_training_lower_the_loss():
    rng = np.random.default_rng(0)
    x = rng.random((64, 8, 8, 1), dtype=np.float32)
    y = (x[:, :4].mean(axis=(1, 2, 3)) > x[:, 4:].mean(axis=(1, 2, 3))).astype(np.int64)
    model = model_lib.build_model(tuning.search_space(), (8, 8, 1), num_classes=2, total_steps=32)
    history = model.fit(x, y, epochs=8, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_the_one_cycle_schedule_warms_up_to_the_peak_then_decays():
    schedule = model_lib.one_cycle(peak=2e-3, total_steps=100)
    rates = [float(schedule(step)) for step in range(101)]
    peak_step = rates.index(max(rates))
    assert rates[0] == pytest.approx(2e-4) and max(rates) == pytest.approx(2e-3)
    assert peak_step == int(100 * model_lib.WARMUP_FRACTION)
    assert all(a <= b for a, b in zip(rates[:peak_step], rates[1 : peak_step + 1], strict=True))
    assert all(a >= b for a, b in zip(rates[peak_step:-1], rates[peak_step + 1 :], strict=True))
    assert rates[-1] == pytest.approx(2e-5, rel=1e-3)


def test_the_random_search_tries_the_defaults_first(tmp_path):
    from conftest import component_settings

    from models import devices
    from models.settings import TuningSettings

    settings = component_settings(TuningSettings, tuner_max_trials=3)
    tuner = tuning.make_tuner(settings, str(tmp_path), devices.strategy([]), total_steps=4)
    first = tuner.oracle.create_trial("tuner0")
    assert first.hyperparameters.values == tuning.search_space().values
    second = tuner.oracle.create_trial("tuner1")
    assert second.hyperparameters.values != first.hyperparameters.values
