"""Reading what users give us: images (any format, EXIF, bombs), one safe zip reader, the bundled samples."""
