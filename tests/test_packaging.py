"""The installed package: console script, layout, checkpoints."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from filmcolor.models import ColorizationNet, preset
from filmcolor.weights import ModelFileError, load_model, read_metadata, save_model

ROOT = Path(__file__).resolve().parent.parent
FILMCOLOR = str(Path(sys.executable).parent / "filmcolor")


def test_generic_names_do_not_leak_into_site_packages(tmp_path):
    code = "import importlib.util as u; print(u.find_spec('models'), u.find_spec('train'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert out.stdout.strip() == "None None"
    import filmcolor.models
    import filmcolor.train

    assert Path(filmcolor.models.__file__).parent == ROOT / "models"
    assert Path(filmcolor.train.__file__).parent == ROOT / "train"


def test_models_package_imports_only_torch():
    code = (
        "import sys, filmcolor.models; "
        "names = ('av', 'cv2', 'rich', 'typer', 'filmcolor.cli'); "
        "print(sorted(m for m in names if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_version_names_every_library():
    out = subprocess.run([FILMCOLOR, "--version"], capture_output=True, text=True, check=True)
    for word in ("filmcolor", "torch", "PyAV", "FFmpeg"):
        assert word in out.stdout


def test_help_lists_the_commands():
    out = subprocess.run([FILMCOLOR, "--help"], capture_output=True, text=True, check=True)
    for command in ("colorize", "frames", "shots", "train", "info"):
        assert command in out.stdout


def test_info_shows_device_and_presets():
    out = subprocess.run([FILMCOLOR, "info"], capture_output=True, text=True, check=True)
    assert "device: cpu" in out.stdout or "device: cuda" in out.stdout
    assert "42,360,591" in out.stdout  # paper preset parameters, BN included
    assert "compact" in out.stdout


def test_checkpoint_round_trip(tmp_path):
    model = ColorizationNet(preset("compact", width=0.125, num_classes=3)).eval()
    path = save_model(tmp_path / "m.safetensors", model, class_names=["a", "b", "c"], steps=7)
    loaded, meta = load_model(path)
    assert loaded.cfg == model.cfg and not loaded.training
    assert meta["class_names"] == ["a", "b", "c"] and meta["provenance"]["steps"] == 7
    l = torch.rand(1, 1, 24, 40)
    with torch.no_grad():
        torch.testing.assert_close(loaded(l)[0], model(l)[0])
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temporary left over


def test_pickle_checkpoints_are_refused_not_executed(tmp_path):
    marker = tmp_path / "executed"

    class Evil:
        def __reduce__(self):
            return (marker.touch, ())

    path = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, path)
    with pytest.raises(ModelFileError, match="refused"):
        load_model(path)
    assert not marker.exists()


def test_a_checkpoint_whose_header_length_looks_like_a_pickle_still_loads(tmp_path):
    """A safetensors file starts with its header's length: 128 + 256 k bytes starts with 0x80,
    a pickle's first byte (1 checkpoint in 256, by the length of its metadata)."""
    model = ColorizationNet(preset("compact", width=0.25, num_classes=0)).eval()
    path = tmp_path / "m.safetensors"
    for pad in range(256):
        save_model(path, model, note="x" * pad)
        if path.read_bytes()[0] == 0x80:
            break
    assert path.read_bytes()[0] == 0x80
    loaded, meta = load_model(path)
    assert loaded.cfg == model.cfg and meta["provenance"]["note"].startswith("x")


@pytest.mark.parametrize("content", [b"", b"not a model at all"])
def test_garbage_checkpoint_is_a_clear_error(tmp_path, content):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(ModelFileError):
        read_metadata(path)
    with pytest.raises(ModelFileError, match="not found"):
        read_metadata(tmp_path / "missing.safetensors")


def test_fp16_checkpoint_halves_the_file_and_loads_as_float32(tmp_path):
    model = ColorizationNet(preset("compact", width=0.25, num_classes=0)).eval()
    full = save_model(tmp_path / "full.safetensors", model)
    half = save_model(tmp_path / "half.safetensors", model, dtype=torch.float16)
    assert half.stat().st_size < 0.55 * full.stat().st_size
    loaded, _ = load_model(half)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    l = torch.rand(1, 1, 32, 48)
    with torch.no_grad():
        torch.testing.assert_close(loaded(l)[0], model(l)[0], atol=0.5, rtol=0)  # a*b* units


def test_written_files_get_ordinary_permissions(tmp_path):
    """Atomic writes go through mkstemp (mode 0600); the published file must not stay private."""
    from filmcolor.files import atomic_output

    umask = os.umask(0)
    os.umask(umask)
    with atomic_output(tmp_path / "out.bin") as tmp:
        tmp.write_bytes(b"x")
    assert (tmp_path / "out.bin").stat().st_mode & 0o777 == 0o666 & ~umask  # 0644 usually
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]
