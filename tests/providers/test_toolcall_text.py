"""Tool calls a small model wrote as text: every shape find_tool_calls recovers, what it leaves
alone, strip_call_text and looks_like_tool_call."""

from __future__ import annotations

import pytest

from cowork.providers.toolcall_text import invents_tool_result, TextToolCall, find_tool_calls, looks_like_tool_call, strip_call_text

TOOLS = frozenset({"read", "ls", "write", "move"})


def calls(text: str, tools=TOOLS) -> list[tuple[str, dict]]:
    return [(c.name, c.arguments) for c in find_tool_calls(text, tools)]


@pytest.mark.parametrize("text, expected", [
    pytest.param('```json\n{"name": "read", "arguments": {"path": "a.txt"}}\n```',
                 [("read", {"path": "a.txt"})], id="fenced"),
    pytest.param('{"name": "read", "arguments": {"path": "a.txt"}}', [("read", {"path": "a.txt"})], id="bare"),
    pytest.param('<tool_call>\n{"name": "ls", "arguments": {"path": "docs"}}\n</tool_call>',
                 [("ls", {"path": "docs"})], id="tool_call-tags"),
    pytest.param('<tools>{"name": "ls", "arguments": {"path": "docs"}}</tools>', [("ls", {"path": "docs"})], id="tools-tags"),
    pytest.param('{"name": "read", "arguments": {"path": "a.txt",},}', [("read", {"path": "a.txt"})], id="trailing-commas"),
    pytest.param("{'name': 'read', 'arguments': {'path': 'it\\'s.txt'}}", [("read", {"path": "it's.txt"})], id="single-quotes"),
    pytest.param('{"type": "function", "function": {"name": "write", "arguments": {"path": "b", "content": "x"}}}',
                 [("write", {"path": "b", "content": "x"})], id="openai-function-wrapper"),
    pytest.param('{"name": "read", "arguments": "{\\"path\\": \\"a.txt\\"}"}', [("read", {"path": "a.txt"})],
                 id="arguments-as-json-string"),
    pytest.param('{"name": "ls", "arguments": ""}', [("ls", {})], id="empty-arguments-string"),
    pytest.param('{"name": "ls", "path": "."}', [("ls", {"path": "."})], id="flat-arguments"),
    pytest.param('{"tool": "read", "parameters": {"path": "a"}}', [("read", {"path": "a"})], id="tool-and-parameters"),
    pytest.param('{"name": "functions.read", "arguments": {"path": "a"}}', [("read", {"path": "a"})], id="dotted-name"),
    pytest.param('{"name": "LS", "arguments": {}}', [("ls", {})], id="upper-case-name"),
    pytest.param('I will move it.\n{"name": "move", "arguments": {"source": "a.txt", "destination": "old/"',
                 [("move", {"source": "a.txt", "destination": "old/"})], id="cut-off-at-the-end"),
    pytest.param('{"name": "ls", "arguments": {"path": "."}}\n{"name": "read", "arguments": {"path": "b"}}',
                 [("ls", {"path": "."}), ("read", {"path": "b"})], id="two-in-a-row"),
    pytest.param('{"name": "write", "arguments": {"path": "c.json", "content": "{\\"a\\": \\"}\\"}"}}',
                 [("write", {"path": "c.json", "content": '{"a": "}"}'})], id="braces-inside-strings"),
])
def test_call_shapes_are_recovered(text, expected):
    assert calls(text) == expected


def test_calls_are_text_tool_call_values():
    assert find_tool_calls('{"name": "ls", "arguments": {}}', TOOLS) == [TextToolCall("ls", {})]


@pytest.mark.parametrize("text", [
    pytest.param('{"name": "rm -rf /", "arguments": {"path": "/"}}', id="name-not-an-identifier"),
    pytest.param('{"name": "rm_rf", "arguments": {"path": "/"}, "why": "x"}', id="unknown-name-with-extra-keys"),
    pytest.param('{"name": "demo", "version": "1.0", "debug": true}', id="package-json"),
    pytest.param('The config is {"host": "localhost", "port": 8080}.', id="prose-with-json"),
    pytest.param('{"name": "read", "arguments": ["a.txt"]}', id="arguments-not-an-object"),
    pytest.param('{"name": "read", "arguments": {"path": "a"}, "id": 1, "extra": 2}', id="too-many-keys"),
    pytest.param('{"name": 42, "arguments": {}}', id="name-not-a-string"),
    pytest.param("no braces at all", id="no-object"),
    pytest.param("", id="empty"),
])
def test_what_is_not_a_call_of_an_offered_tool_is_ignored(text):
    assert calls(text) == []


def test_no_offered_tools_means_no_calls_and_unknown_calls_beside_known_ones_are_kept():
    assert calls('{"name": "read", "arguments": {"path": "a"}}', tools=()) == []
    text = '{"name": "nope", "arguments": {}} {"name": "read", "arguments": {"path": "a"}}'
    assert calls(text) == [("nope", {}), ("read", {"path": "a"})]  # the engine answers "unknown tool nope"


@pytest.mark.parametrize("text, left", [
    ('I will read it.\n```json\n{"name": "read", "arguments": {"path": "a"}}\n```', "I will read it."),
    ('<tool_call>\n{"name": "ls", "arguments": {}}\n</tool_call>', ""),
    ('<tools>{"name": "ls"}</tools> then <tools>{"name": "read"}</tools> done', "then  done"),
    ('Moving now: {"name": "move", "arguments": {"source": "a"', "Moving now:"),
    ("Just prose.", "Just prose."),
])
def test_strip_call_text_leaves_the_prose_around_the_calls(text, left):
    assert strip_call_text(text) == left


@pytest.mark.parametrize("text", [
    "<tool_call>read notes.txt</tool_call>",
    "<tools>[read(path='a')]</tools>",
    '<|tool_call|>{"nam": "x"}',
    '{"name": "read", "path": }',  # broken, but a name key next to an offered tool's name
    "{'tool': 'ls'}",
    '{"arguments": {"path": "a"}, "function_name": "write"}',
])
def test_looks_like_tool_call_for_unreadable_calls(text):
    assert looks_like_tool_call(text, TOOLS)


@pytest.mark.parametrize("text", [
    "I listed the folder and read the file.",  # tool names in prose, no keys
    '{"name": "demo", "version": "1.0"}',  # a name key, but no offered tool's name
    "a < b and c > d",
    '{"path": "notes.txt"}',
])
def test_looks_like_tool_call_is_false_for_ordinary_text(text):
    assert not looks_like_tool_call(text, TOOLS)


def test_a_call_cut_off_by_the_length_limit_is_not_recovered_when_complete_is_asked() -> None:
    """A ``write`` stopped mid-content must not run with half a file."""
    text = '{"name": "write", "arguments": {"path": "a.py", "content": "def f():\n    ret'
    assert find_tool_calls(text, {"write"}) != []  # the model merely forgot the closing braces
    assert find_tool_calls(text, {"write"}, complete=True) == []
    both = '{"name": "ls", "arguments": {"path": "."}}\n' + text
    assert [c.name for c in find_tool_calls(both, {"ls", "write"}, complete=True)] == ["ls"]


def test_an_invented_tool_result_is_not_mistaken_for_a_call() -> None:
    text = "<tool_response>\nMoved a.jpg into 2019/\n</tool_response>"
    assert invents_tool_result(text) and not looks_like_tool_call(text, {"move"})
    assert not invents_tool_result("<tool_call>\n{\"name\": \"ls\"}\n</tool_call>")
    assert looks_like_tool_call("<tool_call>\n{\"name\": \"nope\"}\n</tool_call>", {"ls"})


def test_a_call_of_a_tool_not_offered_is_still_a_call_so_the_model_hears_it_does_not_exist() -> None:
    text = '```json\n{"name": "mkdir", "arguments": {"path": "reports/2024/q1"}}\n```'
    assert find_tool_calls(text, {"bash", "write"}) == [TextToolCall("mkdir", {"path": "reports/2024/q1"})]
    # but data that merely has a name is not a call
    assert find_tool_calls('{"name": "Ana", "email": "ana@example.com"}', {"write"}) == []
    assert find_tool_calls('{"name": "Ana Lee", "arguments": {}}', {"write"}) == []


def test_doubled_braces_copied_from_the_template_are_read() -> None:
    text = '{{"name": "ls", "arguments": {"path": "."}}}'
    assert find_tool_calls(text, {"ls"}) == [TextToolCall("ls", {"path": "."})]


def test_a_result_block_the_model_wrote_is_an_invented_result() -> None:
    assert invents_tool_result("<result>sub/cache.tmp build.tmp</result>")
