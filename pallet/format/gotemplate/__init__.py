"""Go's text/template, as the docker CLI runs it.

    template = parse(text, funcs=None)      -> Template; TemplateError on a parse error
    template.execute(data, missingkey="default"|"error", funcs=None) -> str
    TemplateError(message)                  Go's own error text ("template: :1: ...")

Written by hand: PyPI has no text/template for Python (the one candidate is a CGo wrapper that
is not installable here and carries none of Docker's functions), and Docker users need Go's exact
semantics and error texts. Data model: str/int/float/bool, list (Go slice), dict (a struct, or
with missingkey=error a JSON map), GoMap (a Go map: printed map[k:v], keys sorted), Struct (a
formatter context whose fields are methods), GoNil (a typed nil), None (no value).
"""

from pallet.format.gotemplate.execute import Template, parse
from pallet.format.gotemplate.values import GoMap, GoNil, Struct, TemplateError

__all__ = ["GoMap", "GoNil", "Struct", "Template", "TemplateError", "parse"]
