import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseRegisterArgs, UsageError } from '../../../src/mistral/register';
import { inputNames, renderWorkflow, troveApiBase, WorkflowDefinitionError } from '../../../src/mistral/workflow-definition';

const SHIPPED = 'datastore/mistral/trove.backup_create.yaml';

describe('Trove API base for the workflow', () => {
  it('takes what a catalog or an operator has and drops the project', () => {
    expect(troveApiBase('http://controller:8779/v1.0/%(tenant_id)s')).toBe('http://controller:8779/v1.0');
    expect(troveApiBase('http://controller:8779/v1.0/$(project_id)s/')).toBe('http://controller:8779/v1.0');
    expect(troveApiBase('https://db.example.org/database/v1.0')).toBe('https://db.example.org/database/v1.0');
    expect(troveApiBase('http://127.0.0.1:8779/v1.0/0f5c3a9e8b7d', '0f5c3a9e8b7d')).toBe('http://127.0.0.1:8779/v1.0');
  });

  it('refuses a URL that is not Trove\'s v1.0 API or could break the definition', () => {
    expect(() => troveApiBase('http://controller:8779/')).toThrow(/must end in \/v1\.0/);
    expect(() => troveApiBase('http://h/v1.0/abc', 'def')).toThrow(/must end in \/v1\.0/);
    expect(() => troveApiBase("http://h/v1.0'\n  x: y")).toThrow(WorkflowDefinitionError);
    expect(() => troveApiBase('ftp://h/v1.0')).toThrow(/not an http\(s\) URL/);
  });
});

describe('the shipped definition', () => {
  const text = readFileSync(SHIPPED, 'utf8');

  it('fills in Trove\'s endpoint once', () => {
    const out = renderWorkflow(text, 'http://t:8779/v1.0', SHIPPED);
    expect(out).toContain("trove_api: 'http://t:8779/v1.0'");
    expect(out).not.toContain('@TROVE_API@');
  });

  it('refuses a file without the placeholder or without the workflow', () => {
    expect(() => renderWorkflow(text.replace('@TROVE_API@', 'x'), 'http://t/v1.0', 'f.yaml')).toThrow(/f\.yaml must contain @TROVE_API@ exactly once \(found 0\)/);
    expect(() => renderWorkflow(text.replace(/^trove\.backup_create:/m, 'my.wf:'), 'http://t/v1.0', 'f.yaml')).toThrow(/does not define the workflow trove\.backup_create/);
  });

  it('reads input names as Mistral prints them', () => {
    expect(inputNames('instance, name, description="None", incremental="None"')).toEqual(['instance', 'name', 'description', 'incremental']);
  });
});

describe('registration command line', () => {
  it('needs both URLs without Keystone, and checks them', () => {
    expect(() => parseRegisterArgs(['--no-auth', '--mistral-url', 'http://m/v2'])).toThrow(/--no-auth needs --mistral-url and --trove-url/);
    expect(() => parseRegisterArgs(['--trove-url', 'controller:8779'])).toThrow(/--trove-url "controller:8779" is not an http\(s\) URL/);
    expect(() => parseRegisterArgs(['--bogus'])).toThrow(UsageError);
    expect(parseRegisterArgs(['--mistral-url', 'http://m:8989/v2'])).toMatchObject({ auth: true, mistralUrl: 'http://m:8989/v2', troveUrl: undefined });
  });
});
