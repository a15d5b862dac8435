"""The library's log: loggers under ``nnlib``, no handler of its own, the command line's and a
notebook kernel's handlers (``nnlib.logs``)."""
import contextlib
import io
import logging

import pytest

from nnlib.cli import main
from nnlib.logs import ROOT, StreamAtEmit, log_to, logging_to

LOG = logging.getLogger("nnlib.lab.test")


def test_the_handler_writes_to_the_stream_of_the_moment_and_says_what_a_warning_is(capsys):
    with logging_to("stdout"):
        LOG.info("first")
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):  # what a notebook kernel or capsys does
            LOG.info("second")
            LOG.debug("not shown at INFO")
        LOG.warning("cache not written")
    assert buffer.getvalue() == "second\n"
    assert capsys.readouterr() == ("first\n", "nnlib: warning: cache not written\n")


def test_attaching_twice_shows_each_line_once_and_the_block_restores_the_logger(capsys):
    logger = logging.getLogger(ROOT)
    before = (list(logger.handlers), logger.level)
    with logging_to("stderr"):
        log_to("stderr")
        log_to("stdout")
        LOG.info("once")
    assert capsys.readouterr() == ("once\n", "")
    assert (list(logger.handlers), logger.level) == before
    LOG.info("after the block: nowhere")
    assert capsys.readouterr() == ("", "")


def test_a_configured_root_logger_does_not_print_each_line_twice(capsys):
    root = logging.getLogger()
    handler = logging.StreamHandler()  # what logging.basicConfig adds, on stderr
    root.addHandler(handler)
    try:
        with logging_to("stdout"):
            LOG.info("once")
        LOG.warning("after the block: the root's handler again")
    finally:
        root.removeHandler(handler)
    assert capsys.readouterr() == ("once\n", "after the block: the root's handler again\n")


def test_a_formatter_and_an_exception_are_honoured(capsys):
    with logging_to("stdout") as _:
        handler = next(h for h in logging.getLogger(ROOT).handlers if isinstance(h, StreamAtEmit))
        try:
            raise ValueError("bad")
        except ValueError:
            LOG.exception("failed")
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        LOG.info("formatted")
    out, err = capsys.readouterr()
    assert err.startswith("nnlib: error: failed\nTraceback") and "ValueError: bad" in err
    assert out == "INFO nnlib.lab.test formatted\n"


def test_a_bad_stream_name_is_a_clear_error():
    with pytest.raises(ValueError, match="'stdout' or 'stderr'"):
        StreamAtEmit("file")


def test_the_command_line_shows_the_log_while_it_runs_and_leaves_no_handler(capsys, monkeypatch):
    from nnlib import cli

    logger = logging.getLogger(ROOT)
    before, seen = list(logger.handlers), []

    def command(args):  # a command that logs, as `nnlib train` does through the trainer
        LOG.info("epoch 1/1: from the library")
        seen.append([type(h).__name__ for h in logger.handlers])
        return 0

    args = cli.build_parser().parse_args(["fetch-data"])
    args.func = command
    monkeypatch.setattr(cli, "build_parser", lambda: type("Parser", (), {
        "parse_args": lambda self, argv: args})())
    assert main([]) == 0
    assert capsys.readouterr().out == "epoch 1/1: from the library\n"
    assert seen == [[*(type(h).__name__ for h in before), "StreamAtEmit"]]
    assert logger.handlers == before


@pytest.mark.parametrize("env, front_end, shown", [
    ({}, False, None),                       # papermill: the saved notebook keeps no log
    ({}, True, "stdout"),                    # JupyterLab: epoch lines in the cell, like Keras
    ({"NNLIB_LOG": "off"}, True, None),      # asked for none
    ({"NNLIB_LOG": "stderr"}, False, "stderr"),  # the report's kernels
    ({"NNLIB_LOG": "stdout"}, False, "stdout")])
def test_a_notebook_kernel_shows_the_log_where_its_reader_is(monkeypatch, env, front_end, shown):
    from nnlib.report import notebook

    monkeypatch.delenv("NNLIB_LOG", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(notebook, "kernel_front_end", lambda: front_end)
    logger = logging.getLogger(ROOT)
    with logging_to("stdout"):  # restores the logger's handlers afterwards
        logger.handlers[:] = []
        notebook.setup()
        streams = [h.stream_name for h in logger.handlers if isinstance(h, StreamAtEmit)]
    assert streams == ([shown] if shown else [])


def test_a_bad_nnlib_log_value_is_named(monkeypatch):
    from nnlib.report import notebook

    monkeypatch.setenv("NNLIB_LOG", "file")
    with pytest.raises(ValueError, match="NNLIB_LOG='file': expected 'stdout', 'stderr' or 'off'"):
        notebook.setup()
