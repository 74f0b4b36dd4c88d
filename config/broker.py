"""kombu's filesystem transport (the broker when REDIS_URL is unset) that makes its folders on first use,
so importing the settings creates nothing on disk."""

from pathlib import Path

from kombu.transport import filesystem

FOLDER_OPTIONS = ("data_folder_in", "data_folder_out", "processed_folder", "control_folder")


class FilesystemTransport(filesystem.Transport):
    def __init__(self, client, **kwargs):
        options = client.transport_options or {}
        for name in FOLDER_OPTIONS:
            if options.get(name):
                Path(options[name]).mkdir(parents=True, exist_ok=True)
        super().__init__(client, **kwargs)
