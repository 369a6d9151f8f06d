"""The work bus on Redis Streams: inbox → router → one queue per persona."""
