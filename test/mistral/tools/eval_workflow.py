"""Evaluates expressions of the shipped trove.backup_create with Mistral's own YAQL evaluator.

argv[1]: the workflow file; stdin: JSON list of {"task", "field", "path", "context", "result"}
cases, where `path` picks an expression inside the task (e.g. ["publish", "doomed"]) and
`result` (optional) stands in for task().result. Prints a JSON list of values or errors.
The definition is also parsed by Mistral's spec parser, so a test fails on an invalid workflow.
"""
import json
import sys

import yaml
from mistral.expressions import yaql_expression
from mistral.lang import parser

text = open(sys.argv[1]).read().replace('@TROVE_API@', 'http://trove.test/v1.0')
parser.get_workflow_list_spec_from_yaml(text)
tasks = yaml.safe_load(text)['trove.backup_create']['tasks']
out = []
for case in json.load(sys.stdin):
    expr = tasks[case['task']]
    for key in case['path']:
        expr = expr[key]
    ctx = dict(case['context'])
    if 'result' in case:
        # task() is Mistral's engine function; its result is handed in as $.task_result_.
        expr = expr.replace('task().result', '$.task_result_')
        ctx['task_result_'] = case['result']
    try:
        out.append({'value': yaql_expression.InlineYAQLEvaluator.evaluate(expr, ctx)})
    except Exception as error:  # noqa: BLE001 - reported to the test
        out.append({'error': str(error)})
print(json.dumps(out, default=str))
