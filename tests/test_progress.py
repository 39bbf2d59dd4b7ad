"""Progress of the embedding step: a live bar on a terminal, a few plain lines in a log, nothing when not asked."""
import io

from rag.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(total, step, say, stream):
    with Progress(total, "passage", say, stream) as bar:
        for _ in range(0, total, step):
            bar.update(min(step, total - bar.done))


def test_a_log_gets_a_line_per_tenth_and_no_bar_redraws():
    lines, log = [], io.StringIO()
    run(1000, 7, lines.append, log)
    assert len(lines) == 10 and log.getvalue() == ""
    assert lines[0].startswith("embedded 105/1000 passages (") and "s left at this rate" in lines[0]
    assert lines[-1].startswith("embedded 1000 passages in")


def test_a_terminal_gets_a_live_bar_with_rate_and_time_left():
    lines, tty = [], Terminal()
    run(200, 64, lines.append, tty)
    assert lines == [] and "200/200" in tty.getvalue() and "passage/s" in tty.getvalue()


def test_nothing_is_shown_when_no_one_asked():
    tty = Terminal()
    run(200, 64, None, tty)
    assert tty.getvalue() == ""
