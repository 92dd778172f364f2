"""service.write_on_latest: the one read, compute, PATCH with If-Match, re-read on 412 loop of every model write."""
import pytest

from ansible_collections.vmss.rollout.plugins.module_utils.errors import VmssConflict, VmssError
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.service import write_on_latest


class Model:
    """A scale set whose etag moves on every write; ``edits`` other writers get in before our next writes."""

    def __init__(self, edits=0):
        self.state = {"etag": '"1"', "tags": {}, "image": "1.0"}
        self.edits = edits
        self.writes = []

    def read(self):
        return dict(self.state, tags=dict(self.state["tags"]))

    def write(self, vmss, change):
        self.writes.append((vmss["etag"], change))
        if self.edits:
            self.edits -= 1
            self.state["tags"]["colleague%d" % self.edits] = "x"
            self.state["etag"] = '"%d"' % (int(self.state["etag"].strip('"')) + 1)
            raise VmssConflict("Could not update: PreconditionFailed (HTTP 412, request id r-%d)" % self.edits,
                               status=412, request_id="r-%d" % self.edits)
        self.state.update(change, etag='"%d"' % (int(self.state["etag"].strip('"')) + 1))
        return self.read()


def to_image(version):
    def compute(vmss):
        return None if vmss["image"] == version else {"image": version}
    return compute


def test_nothing_to_change_is_one_read_and_no_write():
    model = Model()
    vmss, written, conflicts = write_on_latest(model.read, to_image("1.0"), model.write, 3, "rg", "web")
    assert (vmss["image"], written, conflicts, model.writes) == ("1.0", None, 0, [])


def test_a_412_re_reads_and_writes_again_with_the_new_etag_keeping_the_other_edit():
    model = Model(edits=1)
    seen = []

    def compute(vmss):
        seen.append(dict(vmss["tags"]))
        return {"image": "2.0"}

    _vmss, written, conflicts = write_on_latest(model.read, compute, model.write, 3, "rg", "web")
    assert [etag for etag, _change in model.writes] == ['"1"', '"2"']
    assert seen == [{}, {"colleague0": "x"}]  # the change is worked out again from the fresh read
    assert conflicts == 1 and written["image"] == "2.0" and written["tags"] == {"colleague0": "x"}


def test_bounded_by_retries_then_one_sentence_with_the_last_request_id():
    model = Model(edits=10)
    with pytest.raises(VmssConflict) as err:
        write_on_latest(model.read, to_image("2.0"), model.write, 2, "rg", "web")
    assert len(model.writes) == 3
    assert str(err.value) == ("Could not update the model of scale set rg/web: it kept changing under us "
                              "(3 concurrent edits, HTTP 412, request id r-7); nothing of ours was written.")
    assert (err.value.code, err.value.status, err.value.request_id) == ("PreconditionFailed", 412, "r-7")
    assert model.state["image"] == "1.0"


def test_zero_retries_gives_up_at_the_first_412():
    model = Model(edits=1)
    with pytest.raises(VmssConflict, match=r"\(1 concurrent edits, HTTP 412, request id r-0\)"):
        write_on_latest(model.read, to_image("2.0"), model.write, 0, "rg", "web")
    assert len(model.writes) == 1


def test_a_refusal_from_compute_writes_nothing():
    model = Model()

    def refuse(vmss):
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        write_on_latest(model.read, refuse, model.write, 3, "rg", "web")
    assert model.writes == []


class Busy(Model):
    """The set is held by another operation (a timed-out instance upgrade) for the first ``busy`` writes: 409."""

    def __init__(self, busy, code="Conflict"):
        super().__init__()
        self.busy, self.code = busy, code

    def write(self, vmss, change):
        if self.busy:
            self.busy -= 1
            self.writes.append((vmss["etag"], "refused"))
            raise VmssError("Could not update the model of scale set rg/web: %s: The request failed due to conflict "
                            "with a concurrent request. (HTTP 409, request id r-9)" % self.code, code=self.code,
                            status=409, request_id="r-9")
        return super().write(vmss, change)


class Clock:
    def __init__(self):
        self.now, self.slept = 0.0, []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


@pytest.mark.parametrize("code", ["Conflict", "OperationNotAllowed"])
def test_a_409_busy_set_is_retried_from_a_fresh_read_within_the_timeout_and_said_once(code):
    model, clock, said = Busy(2, code), Clock(), []
    _vmss, written, conflicts = write_on_latest(model.read, to_image("2.0"), model.write, 3, "rg", "web",
                                                busy_timeout=4, poll_interval=1, say=said.append,
                                                sleep=clock.sleep, clock=clock)
    assert written["image"] == "2.0" and conflicts == 0
    assert [change for _etag, change in model.writes] == ["refused", "refused", {"image": "2.0"}]
    assert clock.slept == [1, 1]
    assert len(said) == 1 and said[0].startswith("Scale set rg/web is busy with another operation (")
    assert said[0].endswith("retrying the model write every 1 s for up to 4 s (wait_timeout).")


def test_a_set_busy_beyond_the_timeout_raises_the_409_and_writes_nothing():
    model, clock = Busy(100), Clock()
    with pytest.raises(VmssError, match=r"HTTP 409, request id r-9") as err:
        write_on_latest(model.read, to_image("2.0"), model.write, 3, "rg", "web", busy_timeout=4, poll_interval=1,
                        sleep=clock.sleep, clock=clock)
    assert err.value.status == 409 and clock.now <= 4 and len(model.writes) == 5
    assert model.state["image"] == "1.0"


def test_a_409_is_not_retried_without_a_timeout_nor_when_the_change_itself_is_refused():
    model = Busy(1)
    with pytest.raises(VmssError, match="409"):
        write_on_latest(model.read, to_image("2.0"), model.write, 3, "rg", "web")
    model, clock = Busy(1, "PropertyChangeNotAllowed"), Clock()
    with pytest.raises(VmssError, match="PropertyChangeNotAllowed"):
        write_on_latest(model.read, to_image("2.0"), model.write, 3, "rg", "web", busy_timeout=4, poll_interval=1,
                        sleep=clock.sleep, clock=clock)
    assert len(model.writes) == 1 and clock.slept == []
