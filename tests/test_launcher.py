from mer3d import launcher


def test_allocator_environment_without_tcmalloc(monkeypatch):
    monkeypatch.setattr(launcher, "TCMALLOC_CANDIDATES", ())
    env = launcher.allocator_environment({"PATH": "/bin"})
    assert env["MALLOC_MMAP_MAX_"] == "0" and env[launcher.MARKER] == "glibc-no-mmap"
    assert env["PATH"] == "/bin"


def test_allocator_environment_prefers_tcmalloc(monkeypatch, tmp_path):
    lib = tmp_path / "libtcmalloc_minimal.so.4"
    lib.write_bytes(b"")
    monkeypatch.setattr(launcher, "TCMALLOC_CANDIDATES", (str(lib),))
    env = launcher.allocator_environment({"LD_PRELOAD": "/x.so"})
    assert env["LD_PRELOAD"] == f"{lib}:/x.so" and "MALLOC_MMAP_MAX_" not in env


def test_no_reexec_once_marked(monkeypatch):
    monkeypatch.setenv(launcher.MARKER, "glibc-no-mmap")
    monkeypatch.setattr(launcher.os, "execve", lambda *a: (_ for _ in ()).throw(AssertionError("re-exec")))
    launcher.reexec_with_allocator(["model"])
