"""Examples of host applications that embed media-core."""
