"""Describes generated Python bindings without importing them (their runtime, jsii and aws-cdk-lib for Python, may be
missing), and checks that an app calls them with keyword arguments they accept.

Usage: python3 inspect_bindings.py <package>/__init__.py [app.py ...]; prints JSON:
  {"all": [...], "classes": {name: {"bases", "members", "methods": {name: {"args", "kwonly"}}}}, "unknown_keywords": [...]}
"""
import ast
import json
import sys


def describe(tree: ast.Module) -> dict:
    exported, classes = [], {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            exported = ast.literal_eval(node.value)
        if isinstance(node, ast.ClassDef):
            methods, members = {}, []
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    methods[item.name] = {
                        "args": [a.arg for a in item.args.args],
                        "kwonly": [a.arg for a in item.args.kwonlyargs],
                    }
                elif isinstance(item, ast.Assign):  # enum members
                    members += [t.id for t in item.targets if isinstance(t, ast.Name)]
            classes[node.name] = {"bases": [ast.unparse(b) for b in node.bases], "members": members, "methods": methods}
    return {"all": exported, "classes": classes}


def unknown_keywords(app_path: str, classes: dict) -> list:
    """Keyword arguments of calls to the bindings' classes and methods that their signatures do not have."""
    methods = {}
    for cls in classes.values():
        for name, sig in cls["methods"].items():
            if not name.startswith("_"):
                methods.setdefault(name, set()).update(sig["args"] + sig["kwonly"])
    found = []
    for node in ast.walk(ast.parse(open(app_path, encoding="utf-8").read(), app_path)):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Name) and node.func.id in classes:
            init = classes[node.func.id]["methods"].get("__init__", {"args": [], "kwonly": []})
            accepted, callee = set(init["args"] + init["kwonly"]), node.func.id
        elif isinstance(node.func, ast.Attribute) and node.func.attr in methods:
            accepted, callee = methods[node.func.attr], node.func.attr
        else:
            continue
        for kw in node.keywords:
            if kw.arg is not None and kw.arg not in accepted:
                found.append(f"{app_path}:{kw.lineno}: {callee}() has no keyword argument {kw.arg}")
    return found


if __name__ == "__main__":
    init_path, apps = sys.argv[1], sys.argv[2:]
    result = describe(ast.parse(open(init_path, encoding="utf-8").read(), init_path))
    result["unknown_keywords"] = [msg for app in apps for msg in unknown_keywords(app, result["classes"])]
    print(json.dumps(result))
