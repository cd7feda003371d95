"""Random mkdir/put/rm/mv sequences against a host-side model; fsck.fat and mtools judge the end.

The model is a dict of paths (tuples of names as created) to bytes (files) or None (dirs);
lookups fold case the way FAT does.
"""

from __future__ import annotations

import os
import tempfile

from support.fat import assert_fsck_clean, fat_tree, mtools_tree, new_image, open_volume
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from diskkit.errors import AlreadyExists, DiskkitError, NotFound, UsageError
from diskkit.fat import FatFS, check, mkfs
from diskkit.units import MiB

NAMES = st.sampled_from(["a", "A", "grub.cfg", "GRUB.CFG", "Long Name.txt", "long name.TXT",
                         "x y z", "ünï.txt", "README.md", "dir", "Dir", "longfilename1.txt",
                         "longfilename2.txt", "longfilename3.txt", ".dot", "b.tar.gz"])
DATA = st.one_of(st.just(b""), st.binary(min_size=1, max_size=64),
                 st.integers(1, 9000).map(lambda n: bytes([n % 251]) * n))


def fold(parts):
    return tuple(p.casefold() for p in parts)


class FatModel(RuleBasedStateMachine):
    fat_type = 16
    size = 8 * MiB

    def __init__(self):
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        self.img = new_image(os.path.join(self.tmp.name, "s.img"), self.size)
        self.dev = open_volume(self.img)
        mkfs(self.dev, fat_type=self.fat_type, cluster_size=512 if self.fat_type == 32 else None)
        self.fs = FatFS(self.dev)
        self.model: dict[tuple, bytes | None] = {}

    # -- model helpers ------------------------------------------------------------------
    def find(self, parts):
        for key in self.model:
            if fold(key) == fold(parts):
                return key
        return None

    def dirs(self):
        return [()] + sorted(k for k, v in self.model.items() if v is None)

    def paths(self):
        return sorted(self.model)

    @staticmethod
    def p(parts):
        return "/" + "/".join(parts)

    # -- rules --------------------------------------------------------------------------
    @rule(data=st.data(), name=NAMES)
    def mkdir(self, data, name):
        parent = data.draw(st.sampled_from(self.dirs()))
        target = parent + (name,)
        if self.find(target) is not None:
            try:
                self.fs.mkdir(self.p(target))
            except AlreadyExists:
                return
            raise AssertionError("mkdir over an existing name succeeded")
        self.fs.mkdir(self.p(target))
        self.model[target] = None

    @rule(data=st.data(), name=NAMES, content=DATA)
    def put(self, data, name, content):
        parent = data.draw(st.sampled_from(self.dirs()))
        target = parent + (name,)
        existing = self.find(target)
        if existing is not None and self.model[existing] is None:
            try:
                self.fs.write_file(self.p(target), content)
            except UsageError:
                return
            raise AssertionError("writing over a directory succeeded")
        self.fs.write_file(self.p(target), content)
        self.model[existing or target] = content

    @rule(data=st.data(), name=NAMES, files=st.lists(st.tuples(NAMES, DATA), max_size=8))
    def put_many_at_once(self, data, name, files):
        """A new directory and files in one transaction, as ``put -r`` makes them: their data
        gathered and written together, names reused (a file replaced before it settled);
        each reads back before the transaction ends."""
        target = data.draw(st.sampled_from(self.dirs())) + (name,)
        if self.find(target) is not None:
            return
        with self.fs.transaction():
            self.fs.mkdir(self.p(target))
            self.model[target] = None
            for file_name, content in files:
                path = self.find(target + (file_name,)) or target + (file_name,)
                self.fs.write_file(self.p(path), content)
                self.model[path] = content
                assert self.fs.read_file(self.p(path)) == content

    @precondition(lambda self: self.model)
    @rule(data=st.data(), recursive=st.booleans())
    def rm(self, data, recursive):
        victim = data.draw(st.sampled_from(self.paths()))
        below = [k for k in self.model if k[:len(victim)] == victim and k != victim]
        if below and not recursive:
            try:
                self.fs.remove(self.p(victim))
            except UsageError:
                return
            raise AssertionError("removed a non-empty directory")
        self.fs.remove(self.p(victim), recursive=recursive)
        for k in below + [victim]:
            del self.model[k]

    @precondition(lambda self: self.model)
    @rule(data=st.data(), name=NAMES)
    def mv(self, data, name):
        src = data.draw(st.sampled_from(self.paths()))
        parent = data.draw(st.sampled_from(self.dirs()))
        dst = parent + (name,)
        existing = self.find(dst)
        final = dst
        error = None
        if existing is not None and existing != src:
            if self.model[existing] is not None:
                error = AlreadyExists
            else:
                final = existing + (src[-1],)
                if self.find(final) is not None:
                    error = AlreadyExists
        if error is None and self.model[src] is None:
            into = final[:-1]
            if into[:len(src)] == src:
                error = UsageError
        if error is not None:
            try:
                self.fs.rename(self.p(src), self.p(dst))
            except error:
                return
            raise AssertionError(f"mv {src} {dst} should fail with {error.__name__}")
        self.fs.rename(self.p(src), self.p(dst))
        moved = {k: v for k, v in self.model.items() if k[:len(src)] == src}
        for k in moved:
            del self.model[k]
        for k, v in moved.items():
            self.model[final + k[len(src):]] = v

    @rule()
    def reopen(self):
        """Drop every cache: what follows must agree with what is on disk."""
        self.fs.close()
        self.fs = FatFS(self.dev)
        assert not self.fs.dirty

    @rule(path=NAMES)
    def missing_is_not_found(self, path):
        if self.find((path, "nope")) is None:
            try:
                self.fs.stat(f"/{path}/nope")
            except (NotFound, UsageError):
                return
            raise AssertionError("stat of a missing path succeeded")

    # -- checks -------------------------------------------------------------------------
    @invariant()
    def same_tree(self):
        got = fat_tree(self.fs)
        assert got == {"/".join(k): v for k, v in self.model.items()}

    def teardown(self):
        try:
            self.fs.close()
            assert check(self.dev).clean, check(self.dev).to_text()
            self.dev.close()
            assert_fsck_clean(self.img)
            assert mtools_tree(self.img) == {"/".join(k): v for k, v in self.model.items()}
            reopened = FatFS(open_volume(self.img, writable=False))
            assert fat_tree(reopened) == {"/".join(k): v for k, v in self.model.items()}
        except DiskkitError:
            raise
        finally:
            self.tmp.cleanup()


class Fat12Model(FatModel):
    fat_type = 12
    size = 2 * MiB


class Fat32Model(FatModel):
    fat_type = 32
    size = 40 * MiB


_SETTINGS = settings(max_examples=25, stateful_step_count=30, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TestFat16 = FatModel.TestCase
TestFat16.settings = _SETTINGS
TestFat12 = Fat12Model.TestCase
TestFat12.settings = _SETTINGS
TestFat32 = Fat32Model.TestCase
TestFat32.settings = _SETTINGS
