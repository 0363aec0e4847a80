"""The four ways loading a data set can fail, each with a message that says what to do next.

=====================  ==========================  ===============================================
exception              subclass of                 raised when
=====================  ==========================  ===============================================
DataNotFoundError      FileNotFoundError           no copy anywhere on the search path, and no
                                                   download (offline, or downloads switched off)
CorruptFileError       ValueError                  a file was found but is not the data it claims
                                                   to be (bad IDX header, wrong size, wrong SHA-256)
ChecksumError          ValueError                  a downloaded ``.gz`` has the wrong MD5
DownloadError          OSError                     every mirror failed for one file
=====================  ==========================  ===============================================

``read_idx`` itself raises a plain ``ValueError`` naming the file; the loaders wrap it in a
``CorruptFileError`` that also says how to replace the file.

In a ``DownloadError``'s ``failures``, an attempt that ran out of time is a ``TimeoutError`` ("the
download deadline passed", or a read that waited ``timeout`` seconds), and one that announced or sent
more bytes than the file can take is a ``ValueError``; the others are HTTP and connection errors and
``ChecksumError``.
"""


class DataNotFoundError(FileNotFoundError):
    """A data set is nowhere on the search path and could not be downloaded.

    ``searched`` lists ``(place, path, status)`` for every location looked at, in search order;
    ``summary`` says the same in two lines (what the embedded sample's NOTICE prints).
    """

    def __init__(self, message, searched=(), summary=""):
        super().__init__(message)
        self.searched = list(searched)
        self.summary = summary or message

    def __str__(self):
        return self.args[0]


class CorruptFileError(ValueError):
    """A data file exists but fails verification; ``path`` names it and ``problem`` says what is wrong."""

    def __init__(self, path, problem, remedy=""):
        self.path = str(path)
        self.problem = problem
        message = f"{self.path}: {problem}"
        super().__init__(message + (f". {remedy}" if remedy else ""))


class ChecksumError(ValueError):
    """A downloaded file's MD5 is not the expected one."""

    def __init__(self, file_name, expected, received, url=""):
        self.file_name, self.expected, self.received, self.url = file_name, expected, received, url
        source = f" from {url}" if url else ""
        super().__init__(f"checksum mismatch for {file_name}{source}: expected MD5 {expected}, received {received}")


class DownloadError(OSError):
    """Every mirror failed for one file; ``failures`` lists ``(url, exception)`` in the order tried."""

    def __init__(self, file_name, failures):
        self.file_name = file_name
        self.failures = list(failures)
        lines = [f"could not download {file_name}; tried {len(self.failures)} mirror(s):"]
        lines += [f"  {url}: {error}" for url, error in self.failures]
        super().__init__("\n".join(lines))

    def __str__(self):
        return self.args[0]
