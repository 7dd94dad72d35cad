"""gated_fs.py -- a pass-through FUSE file system whose writes and syncs can be held.

    /usr/bin/python3 gated_fs.py ROOT MOUNTPOINT GATE

Everything under MOUNTPOINT is ROOT. While the file GATE exists, every write and fsync waits:
a disk that has stalled. Tests use it to show that relayd slows its clients down instead of
filling its memory when the spool cannot keep up. Runs in the foreground until unmounted.
"""
import errno
import os
import sys
import time

from fusepy import FUSE, FuseOSError, Operations


class Gated(Operations):
    def __init__(self, root, gate):
        self.root = root
        self.gate = gate

    def _path(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def _wait(self):
        while os.path.exists(self.gate):
            time.sleep(0.01)

    def access(self, path, mode):
        if not os.access(self._path(path), mode):
            raise FuseOSError(errno.EACCES)

    def getattr(self, path, fh=None):
        try:
            st = os.lstat(self._path(path))
        except FileNotFoundError:
            raise FuseOSError(errno.ENOENT)
        return {key: getattr(st, key) for key in ("st_atime", "st_ctime", "st_gid", "st_mode",
                                                  "st_mtime", "st_nlink", "st_size", "st_uid")}

    def readdir(self, path, fh):
        return [".", ".."] + os.listdir(self._path(path))

    def mkdir(self, path, mode):
        os.mkdir(self._path(path), mode)

    def rmdir(self, path):
        os.rmdir(self._path(path))

    def rename(self, old, new):
        os.rename(self._path(old), self._path(new))

    def unlink(self, path):
        os.unlink(self._path(path))

    def chmod(self, path, mode):
        os.chmod(self._path(path), mode)

    def truncate(self, path, length, fh=None):
        with open(self._path(path), "r+b") as file:
            file.truncate(length)

    def create(self, path, mode, fi=None):
        return os.open(self._path(path), os.O_RDWR | os.O_CREAT | os.O_EXCL, mode)

    def open(self, path, flags):
        return os.open(self._path(path), flags)

    def read(self, path, size, offset, fh):
        return os.pread(fh, size, offset)

    def write(self, path, data, offset, fh):
        self._wait()
        return os.pwrite(fh, data, offset)

    def fsync(self, path, datasync, fh):
        self._wait()
        os.fsync(fh)
        return 0

    def flush(self, path, fh):
        return 0

    def release(self, path, fh):
        os.close(fh)
        return 0


if __name__ == "__main__":
    root, mountpoint, gate = sys.argv[1:4]
    FUSE(Gated(root, gate), mountpoint, foreground=True, nothreads=False, big_writes=True,
         max_write=1 << 20)
