"""What surrounds the pixels, copied from the input to the output.

Video (PyAV), as ``ffmpeg -map 0 -c copy -map_metadata 0`` does: the container's tags (title,
comment, ...), and for every stream kept, the video stream included, its tags (language,
title, ...) and its dispositions (default, forced, ...). Tags that describe the old encoding
(encoder, duration, byte and frame statistics) are left for the muxer to write anew.
"""

from __future__ import annotations

import av

# Tags that describe the input's encoding rather than its content (Matroska writes its
# statistics tags in upper case, MP4 its handler in lower case).
_ENCODING_TAGS = {"encoder", "duration", "number_of_frames", "number_of_bytes", "bps"}


def _content_tags(tags: dict[str, str]) -> dict[str, str]:
    return {
        k: v
        for k, v in tags.items()
        if k.lower() not in _ENCODING_TAGS and not k.lower().startswith("_statistics")
    }


def copy_video_metadata(
    source: av.container.InputContainer,
    output: av.container.OutputContainer,
    streams: dict[int, av.stream.Stream],
) -> None:
    """Copy container tags, and each stream's tags and dispositions, before the header is written.

    Args:
        source: the open input.
        output: the output, before its first packet.
        streams: input stream index -> the output stream made from it.
    """
    output.metadata.update(_content_tags(dict(source.metadata)))
    for index, out in streams.items():
        src = source.streams[index]
        out.metadata.update(_content_tags(dict(src.metadata)))
        out.disposition = src.disposition
