"""Every command and argument explains itself in --help, and override examples fit the command."""

import argparse

from sensorimotor.cli import build_parser


def _commands(parser, path=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield (*path, name), sub, helps.get(name)
                yield from _commands(sub, (*path, name))


def test_every_command_and_argument_has_help():
    missing = []
    for path, parser, help_text in _commands(build_parser()):
        if not help_text:
            missing.append(" ".join(path))
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            if not action.help:
                missing.append(f"{' '.join(path)} {action.option_strings or action.dest}")
    assert missing == []


def test_override_examples_belong_to_their_command():
    for path, parser, _ in _commands(build_parser()):
        for action in parser._actions:
            if action.dest != "overrides":
                continue
            uses_robot = path[0] in ("run", "record", "replay")
            assert ("robot" in action.help) == uses_robot, (path, action.help)
