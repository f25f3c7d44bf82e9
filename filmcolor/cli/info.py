"""``filmcolor info``: the device, the model presets and the shipped model."""

from __future__ import annotations

from filmcolor.cli.render import presets, say


def info() -> None:
    """Show the device that would be used and the model presets."""
    import torch

    from filmcolor.device import bf16_supported, resolve_device
    from filmcolor.models import PRESETS, ColorizationNet
    from filmcolor.profile import flops_per_frame

    device = resolve_device("auto")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    say(
        f"device: {device.type} ({name}), bf16: {'yes' if bf16_supported(device) else 'no'}, "
        f"torch threads: {torch.get_num_threads()}"
    )
    rows = []
    for preset_name, cfg in PRESETS.items():
        with torch.device("meta"):
            model = ColorizationNet(cfg)
        params = sum(p.numel() for p in model.parameters())
        gflops = flops_per_frame(model, 480, 640) / 1e9
        rows.append((
            preset_name, f"{cfg.width:g}", cfg.color_head, "yes" if cfg.attention else "no",
            str(cfg.num_classes), f"{params:,}", f"{gflops:.1f}",
        ))  # fmt: skip
    presets(rows)
    _print_default_model()


def _print_default_model() -> None:
    from filmcolor.weights import ModelFileError, default_model_path, read_metadata

    path = default_model_path()
    try:
        meta = read_metadata(path)
    except ModelFileError as e:
        say(f"default model: none ({e})")
        return
    cfg, prov = meta["config"], meta["provenance"]
    say(
        f"default model: {path} ({path.stat().st_size / 1e6:.1f} MB): width {cfg['width']:g}, "
        f"{cfg['color_head']} head, {prov.get('step', '?')} steps on "
        f"{prov.get('train_images', '?')} images, commit {prov.get('commit', '?')}"
    )
    if prov.get("encoder"):  # weights from elsewhere, embedded: where from, under what licence
        say(
            f"  encoder: {prov['encoder']}; from {prov.get('encoder_source', '?')}; "
            f"licence {prov.get('encoder_license', '?')}"
        )
    if prov.get("note"):  # what step and commit alone cannot say, e.g. a run begun from another
        say(f"  {prov['note']}")
