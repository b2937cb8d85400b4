// The extension properties of one element as flat "key → value" pairs, for the comparison:
// spiffworkflow properties, the service operator and the timer expression.
export function extensionSummary(element) {
  const found = {};
  const values = (element.extensionElements && element.extensionElements.values) || [];
  values.forEach((v) => {
    if (v.$type === 'spiffworkflow:Properties') (v.properties || []).forEach((p) => { found[p.name] = p.value; });
    if (v.$type === 'spiffworkflow:ServiceTaskOperator') found.operator = v.id;
  });
  (element.eventDefinitions || []).forEach((d) => {
    ['timeDate', 'timeDuration', 'timeCycle'].forEach((k) => { if (d[k]) found[k] = d[k].body; });
  });
  if (element.conditionExpression) found.condition = element.conditionExpression.body;
  return found;
}
