"""HRIR loading (SOFA, CIPIC wav folder), resampling, rendering and the binaural spatializer."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voxsep.data.spatial import (
    CIPIC_ELEVATIONS,
    KEMAR_SOFA,
    BinauralSpatializer,
    angular_distance,
    binaural_room_ir,
    load_cipic_wav,
    load_hrirs,
    load_sofa,
    render,
    render_at,
)
from voxsep.metrics.spatial import ild, itd

SPEECH = Path("/usr/share/asterisk/sounds/en/agent-alreadyon.wav")


@pytest.fixture(scope="module")
def kemar():
    if not KEMAR_SOFA.exists():
        pytest.skip(f"{KEMAR_SOFA} missing: install the Debian package libmysofa1 (make test does)")
    return load_sofa(KEMAR_SOFA)


@pytest.fixture(scope="module")
def speech():
    if not SPEECH.exists():
        pytest.skip(f"{SPEECH} missing: install asterisk-core-sounds-en-wav")
    audio, rate = sf.read(SPEECH, dtype="float32")
    return audio[: 2 * rate], rate


def test_sofa_file_is_read_with_left_ear_first(kemar):
    assert kemar.irs.shape == (710, 2, 512) and kemar.sample_rate == 44100
    left = kemar.irs[kemar.nearest(90, 0)]
    assert (left[0] ** 2).sum() > 4 * (left[1] ** 2).sum()  # a source at +90 degrees is on the left


@pytest.mark.parametrize("rate", [8000, 16000])
@pytest.mark.parametrize("azimuth, side", [(90, 1), (-90, -1), (30, 1), (-60, -1)])
def test_rendering_puts_the_source_on_the_right_side(kemar, speech, rate, azimuth, side):
    x, speech_rate = speech
    from voxsep.core.audio import resample

    x = resample(x, speech_rate, rate)
    hrirs = kemar.resample(rate)
    assert hrirs.sample_rate == rate and hrirs.irs.shape[-1] == round(512 * rate / 44100)
    image = render_at(x, hrirs, azimuth)
    assert image.shape == (2, len(x))
    assert np.sign(itd(image, rate)) == side and abs(itd(image, rate)) > 100e-6
    assert np.sign(ild(image)) == side and abs(ild(image)) > 1.0
    # Energy convention of Binaural-WSJ0Mix: both ears together carry twice the energy.
    assert (image.astype(np.float64) ** 2).sum() == pytest.approx(2 * (x.astype(np.float64) ** 2).sum(), rel=1e-4)


def test_front_source_has_no_interaural_difference(kemar, speech):
    x, rate = speech
    image = render_at(x, kemar.resample(rate), 0.0)
    assert abs(itd(image, rate)) < 20e-6 and abs(ild(image)) < 0.5


def _write_cipic_subject(folder: Path, kemar) -> None:
    """A CIPIC-layout subject made of KEMAR responses (CIPIC azimuth is positive to the right)."""
    folder.mkdir(parents=True)
    for lateral in (-80, 0, 80):
        rows = np.stack([kemar.irs[kemar.nearest(-lateral if polar < 90 else 180 + lateral, 0)] for polar in CIPIC_ELEVATIONS])
        name = f"{'neg' if lateral < 0 else ''}{abs(lateral)}az"
        for ear, side in enumerate(("left", "right")):
            # 50 frames x taps channels, the orientation of the Binaural-WSJ0Mix files.
            sf.write(folder / f"{name}{side}.wav", rows[:, ear, :], 44100, subtype="FLOAT")


def test_cipic_wav_folder(tmp_path, kemar, speech):
    database = tmp_path / "wav_database"
    _write_cipic_subject(database / "subject_003", kemar)
    hrirs = load_cipic_wav(database)
    assert len(hrirs) == 3 * 50 and set(hrirs.subjects) == {"subject_003"}
    # CIPIC lateral +80 (right), elevation 0 -> SOFA azimuth -80.
    index = hrirs.nearest(-80, 0)
    assert abs(hrirs.azimuths[index] + 80) < 1e-6 and abs(hrirs.elevations[index]) < 1e-6
    x, rate = speech
    image = render_at(x, load_hrirs(database, sample_rate=rate), -80)
    assert itd(image, rate) < -300e-6 and ild(image) < -1.0
    # Behind the listener (polar 180) keeps the lateral side.
    behind = hrirs.nearest(-100, 0)
    assert abs(hrirs.azimuths[behind] + 100) < 1e-6


def test_missing_hrtf_sources_raise_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="libmysofa1"):
        load_sofa(tmp_path / "nope.sofa")
    with pytest.raises(FileNotFoundError, match="wav_database"):
        load_cipic_wav(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="neg80azleft"):
        load_cipic_wav(tmp_path / "empty")
    bad = tmp_path / "bad.sofa"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="bad.sofa"):
        load_sofa(bad)


def test_spatializer_draws_distinct_directions_reproducibly(kemar, speech):
    x, rate = speech
    sources = np.stack([x, x[::-1], np.roll(x, 4000)])
    spatializer = BinauralSpatializer(kemar, rate, min_separation=30)
    images = spatializer(sources, np.random.default_rng(3))
    assert images.shape == (3, 2, len(x)) and images.dtype == np.float32
    directions = spatializer.last_directions
    for i in range(3):
        az, el = directions[i]
        assert -90 <= az <= 90 and -45 <= el <= 45
        for j in range(i):
            assert angular_distance(az, el, *directions[j]) >= 30 - 1e-6
    np.testing.assert_array_equal(spatializer(sources, np.random.default_rng(3)), images)
    with pytest.raises(ValueError, match="min_separation"):
        BinauralSpatializer(kemar, rate, min_separation=170, elevation_range=(0, 0))(sources, np.random.default_rng(0))


def test_room_reverberation_keeps_the_direct_path_side(kemar, speech):
    x, rate = speech
    hrirs = kemar.resample(rate)
    room, listener = [6.0, 5.0, 3.0], np.array([3.0, 2.5, 1.6])
    brir = binaural_room_ir(hrirs, room, listener, listener + [0.0, 1.5, 0.0], rt60=0.4)  # 1.5 m to the left
    assert brir.shape[0] == 2 and brir.shape[1] > 0.1 * rate  # a reverberant tail, not just an HRIR
    image = render(x, brir)
    assert itd(image, rate) > 300e-6 and ild(image) > 0.5
    reverberant = BinauralSpatializer(kemar, rate, rt60=(0.2, 0.5))(np.stack([x, x[::-1]]), np.random.default_rng(1))
    assert reverberant.shape == (2, 2, len(x)) and np.isfinite(reverberant).all()
