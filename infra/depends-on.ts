import { CfnResource, Lazy, Stack, type IAspect } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Drops the DependsOn entries that a resource's own Ref/GetAtt already imply (cfn-lint W3005), e.g. a
 * Lambda function's DependsOn on the role whose Arn it reads. CloudFormation orders by the reference
 * anyway, so the template means the same. The list is computed when the template is rendered,
 * after CDK has turned construct dependencies into resource ones.
 */
export class DropImpliedDependsOn implements IAspect {
  visit(node: IConstruct): void {
    if (!CfnResource.isCfnResource(node)) return;
    const resource = node;
    const stack = Stack.of(resource);
    resource.addOverride(
      'DependsOn',
      Lazy.list(
        {
          produce: () => {
            const referenced = referencedLogicalIds(stack.resolve((resource as unknown as { cfnProperties: unknown }).cfnProperties));
            // The same filter and order CfnResource uses when it renders DependsOn itself.
            return resource
              .obtainDependencies()
              .filter(
                (d): d is CfnResource =>
                  CfnResource.isCfnResource(d) &&
                  (d as unknown as { shouldSynthesize(): boolean }).shouldSynthesize() &&
                  Stack.of(d) === stack,
              )
              .sort((x, y) => x.node.path.localeCompare(y.node.path))
              .map((d) => stack.resolve(d.logicalId) as string)
              .filter((id) => !referenced.has(id));
          },
        },
        { omitEmpty: true },
      ),
    );
  }
}

/** Logical ids named by Ref and Fn::GetAtt anywhere in a resolved value. */
function referencedLogicalIds(value: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) {
    for (const v of value) referencedLogicalIds(v, out);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'Ref' && typeof v === 'string') out.add(v);
      else if (k === 'Fn::GetAtt' && Array.isArray(v) && typeof v[0] === 'string') out.add(v[0]);
      else referencedLogicalIds(v, out);
    }
  }
  return out;
}
