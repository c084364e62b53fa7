"""The V3 `ui` namespace: helpers that save previews/outputs and build a node's `ui` dict.

Torch-free at import: numpy, PIL and torch are imported inside the functions that write files. Folders come
from the running instance's paths service (`comfy_core.runtime.current().paths`), metadata switches from its
config (`disable_metadata`).
"""

from __future__ import annotations

import json
import os
import random
import uuid
import wave
from io import BytesIO
from typing import Any

from comfy_core.registry.v3._base import FolderType
from comfy_core.registry.v3._schema import _UIOutput

_TEMP_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _services() -> Any:
    from comfy_core import runtime

    return runtime.current()


def _metadata_disabled() -> bool:
    return bool(getattr(_services().config, "disable_metadata", False))


def _directory(folder_type: FolderType) -> str:
    paths = _services().paths
    folder_type = FolderType(folder_type)
    if folder_type == FolderType.input:
        return paths.get_input_directory()
    if folder_type == FolderType.output:
        return paths.get_output_directory()
    return paths.get_temp_directory()


def _temp_prefix() -> str:
    return "ComfyUI_temp_" + "".join(random.choice(_TEMP_LETTERS) for _ in range(5))


def _hidden_of(cls: Any) -> Any:
    return getattr(cls, "hidden", None) if cls is not None else None


class SavedResult(dict):
    """One saved file as the UI addresses it: `{"filename", "subfolder", "type"}`."""

    def __init__(self, filename: str, subfolder: str, type: FolderType) -> None:
        super().__init__(filename=filename, subfolder=subfolder, type=FolderType(type).value)

    @property
    def filename(self) -> str:
        return self["filename"]

    @property
    def subfolder(self) -> str:
        return self["subfolder"]

    @property
    def type(self) -> FolderType:
        return FolderType(self["type"])


class SavedImages(_UIOutput):
    def __init__(self, results: list[SavedResult], is_animated: bool = False) -> None:
        self.results = results
        self.is_animated = is_animated

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"images": self.results}
        if self.is_animated:
            data["animated"] = (True,)
        return data


class SavedAudios(_UIOutput):
    def __init__(self, results: list[SavedResult]) -> None:
        self.results = results

    def as_dict(self) -> dict[str, Any]:
        return {"audio": self.results}


class ImageSaveHelper:
    """Save IMAGE batches (`[B,H,W,C]` floats in 0..1) as PNG files with the workflow metadata."""

    @staticmethod
    def _to_pil(image: Any) -> Any:
        import numpy as np
        from PIL import Image as PILImage

        array = image.detach().cpu().float().numpy() if hasattr(image, "detach") else np.asarray(image)
        return PILImage.fromarray(np.clip(255.0 * array, 0, 255).astype(np.uint8))

    @staticmethod
    def _png_metadata(cls: Any) -> Any:
        hidden = _hidden_of(cls)
        if hidden is None or _metadata_disabled():
            return None
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        if hidden.prompt is not None:
            info.add_text("prompt", json.dumps(hidden.prompt))
        if hidden.extra_pnginfo:
            for key, value in hidden.extra_pnginfo.items():
                info.add_text(key, json.dumps(value))
        return info

    @staticmethod
    def save_images(
        images: Any, filename_prefix: str, folder_type: FolderType, cls: Any, compress_level: int = 4
    ) -> list[SavedResult]:
        paths = _services().paths
        folder, filename, counter, subfolder, _ = paths.get_save_image_path(
            filename_prefix, _directory(folder_type), images[0].shape[1], images[0].shape[0]
        )
        metadata = ImageSaveHelper._png_metadata(cls)
        results = []
        for batch_number, image in enumerate(images):
            name = f"{filename.replace('%batch_num%', str(batch_number))}_{counter:05}_.png"
            ImageSaveHelper._to_pil(image).save(
                os.path.join(folder, name), pnginfo=metadata, compress_level=compress_level
            )
            results.append(SavedResult(name, subfolder, folder_type))
            counter += 1
        return results

    @staticmethod
    def get_save_images_ui(
        images: Any, filename_prefix: str, cls: Any, compress_level: int = 4
    ) -> SavedImages:
        return SavedImages(
            ImageSaveHelper.save_images(images, filename_prefix, FolderType.output, cls, compress_level)
        )

    @staticmethod
    def save_animated_png(
        images: Any, filename_prefix: str, folder_type: FolderType, cls: Any, fps: float, compress_level: int
    ) -> SavedResult:
        paths = _services().paths
        folder, filename, counter, subfolder, _ = paths.get_save_image_path(
            filename_prefix, _directory(folder_type), images[0].shape[1], images[0].shape[0]
        )
        frames = [ImageSaveHelper._to_pil(image) for image in images]
        name = f"{filename}_{counter:05}_.png"
        frames[0].save(
            os.path.join(folder, name),
            pnginfo=ImageSaveHelper._png_metadata(cls),
            compress_level=compress_level,
            save_all=True,
            duration=int(1000.0 / fps),
            append_images=frames[1:],
        )
        return SavedResult(name, subfolder, folder_type)

    @staticmethod
    def get_save_animated_png_ui(
        images: Any, filename_prefix: str, cls: Any, fps: float, compress_level: int
    ) -> SavedImages:
        result = ImageSaveHelper.save_animated_png(
            images, filename_prefix, FolderType.output, cls, fps, compress_level
        )
        return SavedImages([result], is_animated=len(images) > 1)


class AudioSaveHelper:
    """Save AUDIO dicts (`waveform [B,C,S]`, `sample_rate`). WAV is written with the standard library;
    FLAC / MP3 / Opus need PyAV (`av`), imported when used."""

    @staticmethod
    def _metadata(cls: Any) -> dict[str, str]:
        hidden = _hidden_of(cls)
        if hidden is None or _metadata_disabled():
            return {}
        meta = {}
        if hidden.prompt is not None:
            meta["prompt"] = json.dumps(hidden.prompt)
        for key, value in (hidden.extra_pnginfo or {}).items():
            meta[key] = json.dumps(value)
        return meta

    @staticmethod
    def save_audio(
        audio: dict[str, Any],
        filename_prefix: str,
        folder_type: FolderType,
        cls: Any,
        format: str = "flac",
        quality: str = "128k",
    ) -> list[SavedResult]:
        paths = _services().paths
        folder, filename, counter, subfolder, _ = paths.get_save_image_path(
            filename_prefix, _directory(folder_type)
        )
        metadata = AudioSaveHelper._metadata(cls)
        results = []
        for batch_number, waveform in enumerate(audio["waveform"].cpu()):
            name = f"{filename.replace('%batch_num%', str(batch_number))}_{counter:05}_.{format}"
            if format == "wav":
                data = _encode_wav(waveform, audio["sample_rate"])
            else:
                data = _encode_with_av(waveform, audio["sample_rate"], format, quality, metadata)
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)
            results.append(SavedResult(name, subfolder, folder_type))
            counter += 1
        return results

    @staticmethod
    def get_save_audio_ui(
        audio: dict[str, Any], filename_prefix: str, cls: Any, format: str = "flac", quality: str = "128k"
    ) -> SavedAudios:
        return SavedAudios(
            AudioSaveHelper.save_audio(audio, filename_prefix, FolderType.output, cls, format, quality)
        )


def _encode_wav(waveform: Any, sample_rate: int) -> bytes:
    import numpy as np

    samples = waveform.float().clamp(-1.0, 1.0).movedim(0, 1).numpy()  # [S, C] interleaved
    buffer = BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(samples.shape[1])
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes((samples * 32767.0).astype(np.int16).tobytes())
    return buffer.getvalue()


_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
_BIT_RATES = {"64k": 64000, "96k": 96000, "128k": 128000, "192k": 192000, "320k": 320000}


def _encode_with_av(
    waveform: Any, sample_rate: int, fmt: str, quality: str, metadata: dict[str, str]
) -> bytes:
    import av  # optional dependency: only FLAC/MP3/Opus output needs it

    rate = int(sample_rate)
    if fmt == "opus" and rate not in _OPUS_RATES:
        target = next((r for r in _OPUS_RATES if r > rate), 48000)
        import torch.nn.functional as F  # noqa: N812

        length = int(round(waveform.shape[-1] * target / rate))
        waveform = F.interpolate(waveform[None], size=length, mode="linear", align_corners=False)[0]
        rate = target
    buffer = BytesIO()
    container = av.open(buffer, mode="w", format=fmt)
    for key, value in metadata.items():
        container.metadata[key] = value
    layout = "mono" if waveform.shape[0] == 1 else "stereo"
    codec = {"opus": "libopus", "mp3": "libmp3lame"}.get(fmt, "flac")
    stream = container.add_stream(codec, rate=rate, layout=layout)
    if fmt == "mp3" and quality == "V0":
        stream.codec_context.qscale = 1
    elif fmt in ("mp3", "opus") and quality in _BIT_RATES:
        stream.bit_rate = _BIT_RATES[quality]
    frame = av.AudioFrame.from_ndarray(
        waveform.movedim(0, 1).reshape(1, -1).float().numpy(), format="flt", layout=layout
    )
    frame.sample_rate = rate
    frame.pts = 0
    container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
    container.close()
    return buffer.getvalue()


class PreviewImage(_UIOutput):
    def __init__(self, image: Any, animated: bool = False, cls: Any = None, **kwargs: Any) -> None:
        self.values = ImageSaveHelper.save_images(
            image, _temp_prefix(), FolderType.temp, cls, compress_level=1
        )
        self.animated = animated

    def as_dict(self) -> dict[str, Any]:
        return {"images": self.values, "animated": (self.animated,)}


class PreviewMask(PreviewImage):
    def __init__(self, mask: Any, animated: bool = False, cls: Any = None, **kwargs: Any) -> None:
        preview = mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1])).movedim(1, -1).expand(-1, -1, -1, 3)
        super().__init__(preview, animated, cls, **kwargs)


class PreviewAudio(_UIOutput):
    def __init__(self, audio: dict[str, Any], cls: Any = None, **kwargs: Any) -> None:
        self.values = AudioSaveHelper.save_audio(audio, _temp_prefix(), FolderType.temp, cls, "flac", "128k")

    def as_dict(self) -> dict[str, Any]:
        return {"audio": self.values}


class PreviewVideo(_UIOutput):
    def __init__(self, values: list[Any], **kwargs: Any) -> None:
        self.values = values

    def as_dict(self) -> dict[str, Any]:
        return {"images": self.values, "animated": (True,)}


class PreviewUI3D(_UIOutput):
    def __init__(self, model_file: Any, camera_info: Any, **kwargs: Any) -> None:
        self.model_file = model_file
        self.camera_info = camera_info
        self.bg_image_path = None
        bg_image = kwargs.get("bg_image")
        if bg_image is not None:
            name = f"bg_{uuid.uuid4().hex}.png"
            ImageSaveHelper._to_pil(bg_image[0]).save(
                os.path.join(_services().paths.get_temp_directory(), name), compress_level=1
            )
            self.bg_image_path = f"temp/{name}"

    def as_dict(self) -> dict[str, Any]:
        return {"result": [self.model_file, self.camera_info, self.bg_image_path]}


class PreviewText(_UIOutput):
    def __init__(self, value: str, **kwargs: Any) -> None:
        self.value = value

    def as_dict(self) -> dict[str, Any]:
        return {"text": (self.value,)}


__all__ = [
    "SavedResult",
    "SavedImages",
    "SavedAudios",
    "ImageSaveHelper",
    "AudioSaveHelper",
    "PreviewImage",
    "PreviewMask",
    "PreviewAudio",
    "PreviewVideo",
    "PreviewUI3D",
    "PreviewText",
]
