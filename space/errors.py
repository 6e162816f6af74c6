"""Typed errors for bad input.

Every error names the input it is about and the reason, in one line, so that a job can record it as data
(`errors` table: input, stage, kind, reason) and a CLI can print it and exit non-zero.
"""

from __future__ import annotations


class SpaceError(Exception):
    """Base class: something about `source` is wrong for the reason given."""

    #: short machine-readable kind, stable across versions (used as the `kind` column of error tables)
    kind = "error"

    def __init__(self, source: str, reason: str):
        self.source = str(source)
        self.reason = reason
        super().__init__(f"{self.source}: {reason}")

    def as_record(self) -> dict[str, str]:
        return {"source": self.source, "kind": self.kind, "reason": self.reason}


class MediaError(SpaceError):
    """The file cannot be used as media (unreadable, not media, truncated)."""

    kind = "bad_media"


class MissingFileError(MediaError):
    kind = "missing_file"


class EmptyMediaError(MediaError):
    """Zero bytes, or media with no frames / no samples."""

    kind = "empty_media"


class CorruptMediaError(MediaError):
    """Not decodable: a truncated file, or something that is not media at all."""

    kind = "corrupt_media"


class NoAudioTrackError(MediaError):
    kind = "no_audio_track"


class NoVideoTrackError(MediaError):
    kind = "no_video_track"


class SilentAudioError(MediaError):
    """The audio decodes but carries no signal (digital silence or below the noise floor)."""

    kind = "silent_audio"


class ImageTooLargeError(MediaError):
    """Refused before decoding: the pixel count would exhaust memory (decompression-bomb guard)."""

    kind = "image_too_large"


class NoSpeechError(SpaceError):
    """The audio has signal but no stretch of speech long enough to make a clip of."""

    kind = "no_speech"


class NoFaceError(SpaceError):
    kind = "no_face"


class FaceTooSmallError(NoFaceError):
    """A face was found but is too small in the photo to animate."""

    kind = "face_too_small"


class SeveralFacesError(SpaceError):
    """Another face of comparable size shares the frame too often (an interview, a two-shot): not a talking head."""

    kind = "several_faces"


class MissingWeightsError(SpaceError):
    """Model weights are not where they were looked for; the message lists the files and the places."""

    kind = "missing_weights"
