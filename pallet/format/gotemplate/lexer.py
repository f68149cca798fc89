"""text/template/parse/lex.go: the template text -> items, with Go's positions and errors.

An error becomes an ERROR item and ends the stream; the parser reports it when it reaches it,
so an earlier parse error wins, as in Go (whose lexer runs lazily beside the parser).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

LEFT, RIGHT = "{{", "}}"
SPACES = " \t\r\n"

# item types
ERROR, EOF, TEXT, COMMENT, LEFT_DELIM, RIGHT_DELIM, SPACE = ("error", "EOF", "text", "comment",
                                                             "{{", "}}", "space")
ASSIGN, DECLARE, PIPE, LEFT_PAREN, RIGHT_PAREN, CHAR = "=", ":=", "|", "(", ")", "char"
STRING, RAW_STRING, CHAR_CONSTANT, NUMBER, BOOL = "string", "raw", "charconst", "number", "bool"
FIELD, VARIABLE, IDENTIFIER, DOT = "field", "variable", "identifier", "dot"
KEYWORDS = {"block", "break", "continue", "define", "else", "end", "if", "range", "nil",
            "template", "with"}


@dataclass(frozen=True)
class Item:
    type: str
    pos: int
    value: str
    line: int

    def __str__(self) -> str:
        if self.type == EOF:
            return "EOF"
        if self.type == ERROR:
            return self.value
        if self.type in KEYWORDS or self.type == DOT:
            return f"<{self.value}>"
        if len(self.value) > 10:
            return go_quote(self.value[:10]) + "..."
        return go_quote(self.value)


def go_quote(text: str) -> str:
    """strconv.Quote."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif char in "\a\b\f\n\r\t\v":
            out.append("\\" + "abfnrtv"["\a\b\f\n\r\t\v".index(char)])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x80 or char.isprintable():
            out.append(char)
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _is_alnum(char: str) -> bool:
    return char == "_" or char.isalpha() or (char.isdigit() and unicodedata.category(char) == "Nd")


def _left_trim(text: str) -> int:
    return len(text) - len(text.lstrip(SPACES))


def _right_trim(text: str) -> int:
    return len(text) - len(text.rstrip(SPACES))


def _has_left_trim(text: str) -> bool:
    return len(text) >= 2 and text[0] == "-" and text[1] in SPACES


def _has_right_trim(text: str) -> bool:
    return len(text) >= 2 and text[0] in SPACES and text[1] == "-"


def go_char_desc(char: str) -> str:
    """Go's %#U: U+0023 '#'."""
    return f"U+{ord(char):04X} '{char}'" if char.isprintable() else f"U+{ord(char):04X}"


class Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.start = 0
        self.line = 1
        self.start_line = 1
        self.items: list[Item] = []
        self.paren_depth = 0

    def lex(self) -> list[Item]:
        state = self.lex_text
        while state is not None:
            state = state()
        return self.items

    # helpers -------------------------------------------------------------------------------
    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        if self.pos >= len(self.text):
            self.pos += 1  # so backup() is symmetric at EOF
            return ""
        char = self.text[self.pos]
        self.pos += 1
        if char == "\n":
            self.line += 1
        return char

    def backup(self) -> None:
        self.pos -= 1
        if self.pos < len(self.text) and self.text[self.pos] == "\n":
            self.line -= 1

    def emit(self, kind: str):
        self.items.append(Item(kind, self.start, self.text[self.start:self.pos], self.start_line))
        self.ignore()
        return self.lex_inside if kind not in (TEXT, RIGHT_DELIM, COMMENT) else self.lex_text

    def ignore(self) -> None:
        self.start = self.pos
        self.start_line = self.line

    def error(self, message: str):
        self.items.append(Item(ERROR, self.start, message, self.start_line))
        return None

    def at_right_delim(self) -> tuple[bool, bool]:
        rest = self.text[self.pos:]
        if _has_right_trim(rest) and rest[2:].startswith(RIGHT):
            return True, True
        return rest.startswith(RIGHT), False

    def at_terminator(self) -> bool:
        char = self.peek()
        if char == "" or char in SPACES or char in ".,|:)(":
            return True
        return self.text.startswith(RIGHT, self.pos)

    def _advance_to(self, position: int) -> None:
        self.line += self.text.count("\n", self.pos, position)
        self.pos = position

    # states --------------------------------------------------------------------------------
    def lex_text(self):
        index = self.text.find(LEFT, self.pos)
        if index < 0:
            self._advance_to(len(self.text))
            if self.pos > self.start:
                self.items.append(Item(TEXT, self.start, self.text[self.start:], self.start_line))
            self.start = self.pos
            self.start_line = self.line
            self.items.append(Item(EOF, self.pos, "", self.line))
            return None
        trim = _right_trim(self.text[self.start:index]) if _has_left_trim(
            self.text[index + 2:]) else 0
        if index - trim > self.start:
            self.items.append(Item(TEXT, self.start, self.text[self.start:index - trim],
                                   self.start_line))
        self._advance_to(index)
        self.start, self.start_line = self.pos, self.line
        return self.lex_left_delim

    def lex_left_delim(self):
        self.pos += len(LEFT)
        trim = _has_left_trim(self.text[self.pos:])
        after = 2 if trim else 0
        if self.text.startswith("/*", self.pos + after):
            self.pos += after
            self.start, self.start_line = self.pos, self.line
            return self.lex_comment
        item = Item(LEFT_DELIM, self.start, LEFT, self.start_line)
        self.pos += after
        self.items.append(item)
        self.start, self.start_line = self.pos, self.line
        self.paren_depth = 0
        return self.lex_inside

    def lex_comment(self):
        self.pos += 2
        index = self.text.find("*/", self.pos)
        if index < 0:
            return self.error("unclosed comment")
        self._advance_to(index + 2)
        delim, trim = self.at_right_delim()
        if not delim:
            return self.error("comment ends before closing delimiter")
        self.pos += (2 if trim else 0) + len(RIGHT)
        if trim:
            self._advance_to(self.pos + _left_trim(self.text[self.pos:]))
        self.start, self.start_line = self.pos, self.line
        return self.lex_text

    def lex_right_delim(self):
        _, trim = self.at_right_delim()
        if trim:
            self.pos += 2
            self.start = self.pos
        self.pos += len(RIGHT)
        self.items.append(Item(RIGHT_DELIM, self.start, RIGHT, self.start_line))
        if trim:
            self._advance_to(self.pos + _left_trim(self.text[self.pos:]))
        self.start, self.start_line = self.pos, self.line
        return self.lex_text

    def lex_inside(self):
        delim, _ = self.at_right_delim()
        if delim:
            if self.paren_depth == 0:
                return self.lex_right_delim
            return self.error("unclosed left paren")
        char = self.next()
        if char == "":
            return self.error("unclosed action")
        if char in SPACES:
            self.backup()
            return self.lex_space
        if char == "=":
            return self.emit(ASSIGN)
        if char == ":":
            if self.next() != "=":
                return self.error("expected :=")
            return self.emit(DECLARE)
        if char == "|":
            return self.emit(PIPE)
        if char == '"':
            return self.lex_quote
        if char == "`":
            return self.lex_raw_quote
        if char == "$":
            return self.lex_field_or_variable(VARIABLE)
        if char == "'":
            return self.lex_char
        if char == "." and not ("0" <= self.peek() <= "9" and self.peek() != ""):
            return self.lex_field_or_variable(FIELD)
        if char in "+-." or "0" <= char <= "9":
            self.backup()
            return self.lex_number
        if _is_alnum(char):
            self.backup()
            return self.lex_identifier
        if char == "(":
            self.paren_depth += 1
            return self.emit(LEFT_PAREN)
        if char == ")":
            self.paren_depth -= 1
            if self.paren_depth < 0:
                return self.error("unexpected right paren")
            return self.emit(RIGHT_PAREN)
        if ord(char) < 0x80 and char.isprintable():
            return self.emit(CHAR)
        return self.error(f"unrecognized character in action: {go_char_desc(char)}")

    def lex_space(self):
        while self.peek() != "" and self.peek() in SPACES:
            if _has_right_trim(self.text[self.pos:]) and self.text.startswith(RIGHT, self.pos + 2):
                break
            self.next()
        if self.pos > self.start:
            return self.emit(SPACE)
        return self.lex_inside

    def lex_identifier(self):
        while _is_alnum(self.peek()) and self.peek() != "":
            self.next()
        word = self.text[self.start:self.pos]
        if not self.at_terminator():
            return self.error(f"bad character {go_char_desc(self.peek())}")
        if word in KEYWORDS:
            return self.emit(word)
        if word in ("true", "false"):
            return self.emit(BOOL)
        return self.emit(IDENTIFIER)

    def lex_field_or_variable(self, kind: str):
        if self.at_terminator():
            return self.emit(VARIABLE if kind == VARIABLE else DOT)
        while self.peek() != "" and _is_alnum(self.peek()):
            self.next()
        if not self.at_terminator():
            return self.error(f"bad character {go_char_desc(self.peek())}")
        return self.emit(kind)

    def lex_char(self):
        while True:
            char = self.next()
            if char == "\\":
                if self.next() not in ("", "\n"):
                    continue
                return self.error("unterminated character constant")
            if char in ("", "\n"):
                return self.error("unterminated character constant")
            if char == "'":
                return self.emit(CHAR_CONSTANT)

    def lex_quote(self):
        while True:
            char = self.next()
            if char == "\\":
                if self.next() not in ("", "\n"):
                    continue
                return self.error("unterminated quoted string")
            if char in ("", "\n"):
                return self.error("unterminated quoted string")
            if char == '"':
                return self.emit(STRING)

    def lex_raw_quote(self):
        index = self.text.find("`", self.pos)
        if index < 0:
            return self.error("unterminated raw quoted string")
        self._advance_to(index + 1)
        return self.emit(RAW_STRING)

    def lex_number(self):
        if not self._scan_number():
            return self.error(f"bad number syntax: {go_quote(self.text[self.start:self.pos])}")
        return self.emit(NUMBER)

    def _scan_number(self) -> bool:
        if self.peek() in ("+", "-") and self.peek() != "":
            self.next()
        digits = "0123456789_"
        if self.peek() == "0":
            self.next()
            prefix = self.peek().lower() if self.peek() else ""
            if prefix in ("x", "o", "b"):
                self.next()
                digits = {"x": "0123456789abcdefABCDEF_", "o": "01234567_", "b": "01_"}[prefix]
        while self.peek() != "" and self.peek() in digits:
            self.next()
        if self.peek() == ".":
            self.next()
            while self.peek() != "" and self.peek() in digits:
                self.next()
        exponent = "pP" if digits.startswith("0123456789a") else "eE"
        if self.peek() != "" and self.peek() in exponent:
            self.next()
            if self.peek() != "" and self.peek() in "+-":
                self.next()
            while self.peek() != "" and self.peek() in "0123456789_":
                self.next()
        if self.peek() == "i":
            self.next()
        if self.peek() != "" and _is_alnum(self.peek()):
            self.next()
            return False
        return True


def lex(text: str) -> list[Item]:
    return Lexer(text).lex()
