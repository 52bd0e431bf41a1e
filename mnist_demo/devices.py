"""Which compute devices exist here, and turning a name into a `torch.device` with a clear refusal."""

import torch

from mnist_demo.errors import DeviceError

KNOWN = ("cpu", "cuda", "mps")


def available_devices() -> list[str]:
    """Names of the devices this machine can run on, cpu first."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    return names


def default_device() -> str:
    """The fastest device present: cuda, then mps, then cpu."""
    names = available_devices()
    for name in ("cuda", "mps"):
        if name in names:
            return name
    return "cpu"


def resolve_device(name: str | None) -> torch.device:
    """`None` or "auto" picks the default; an absent or unknown device raises DeviceError."""
    if name in (None, "", "auto"):
        return torch.device(default_device())
    base = str(name).split(":")[0]
    if base not in KNOWN:
        raise DeviceError(f"device: unknown device {name!r}; choose one of {', '.join(KNOWN)}", code="device_unknown",
                          device=repr(name), options=", ".join(KNOWN))
    if base not in available_devices():
        raise DeviceError(
            f"device: {base} is not available on this machine "
            f"(available: {', '.join(available_devices())})",
            code="device_unavailable", device=base, available=", ".join(available_devices()))
    return torch.device(name)


def sync(device: torch.device) -> None:
    """Block until the device's queued work is done (a no-op on cpu, whose ops return when finished): what a
    clock read around device work needs first (the benchmark's timings, the tutorial loop's)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def native_bf16(device: torch.device | str) -> bool:
    """Whether `device` computes in bfloat16 natively: a CUDA GPU that supports it (Ampere and later), or a
    CPU with AMX or AVX-512 BF16 units. Elsewhere bf16 is emulated and slower than fp32."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")  # private, hence the guard
        return any(getattr(torch.cpu, name, lambda: False)() for name in probes)
    return False


def set_threads(n: int | None) -> None:
    """torch's intra-op threads, for the whole process (0 or None: leave as is).

    The setting is process-wide, not per Python thread: a worker that sets 1 thread slows every other
    thread's torch work to 1 thread too. So a server sets it once, at start-up.
    """
    if n and torch.get_num_threads() != n:
        torch.set_num_threads(n)


def describe(device: torch.device | str) -> str:
    """A human name for a device: the GPU model, or the CPU model with its thread count."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (mps)"
    return f"{cpu_model()} ({torch.get_num_threads()} threads)"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or the platform's processor string."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown CPU"
