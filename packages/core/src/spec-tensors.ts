import { MissingTensorError, ShapeError, SpecError } from './errors';
import type { LayerSpec, ModelSpec, TensorMap } from './types';

function layerTensors(layer: LayerSpec, out: Record<string, number[]>): void {
  switch (layer.type) {
    case 'conv':
    case 'diracConv': {
      out[`${layer.name}.weight`] = [...layer.kernel, layer.inChannels, layer.outChannels];
      if (layer.bias) out[`${layer.name}.bias`] = [layer.outChannels];
      if (layer.type === 'diracConv') {
        const n = layer.parameterization === 'v2' ? layer.outChannels : 1;
        out[`${layer.name}.a`] = [n];
        out[`${layer.name}.b`] = [n];
      }
      return;
    }
    case 'batchnorm':
      for (const r of ['gamma', 'beta', 'mean', 'var']) out[`${layer.name}.${r}`] = [layer.channels];
      return;
    case 'linear':
      out[`${layer.name}.weight`] = [layer.inFeatures, layer.outFeatures];
      out[`${layer.name}.bias`] = [layer.outFeatures];
      return;
    case 'residual':
      for (const l of [...layer.body, ...layer.shortcut]) layerTensors(l, out);
      return;
    default:
      return;
  }
}

/** Every tensor a spec needs, by name, with its shape (tfjs layout). */
export function expectedTensorShapes(spec: Pick<ModelSpec, 'layers'>): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const l of spec.layers) layerTensors(l, out);
  return out;
}

/**
 * Checks that a tensor map has exactly the tensors a spec needs, with the right shapes.
 * Throws {@link MissingTensorError}, {@link ShapeError} or {@link SpecError} (for unexpected extras).
 */
export function checkTensors(
  spec: Pick<ModelSpec, 'layers'>,
  shapes: Record<string, readonly number[]>,
): void {
  const want = expectedTensorShapes(spec);
  for (const [name, shape] of Object.entries(want)) {
    const got = shapes[name];
    if (!got) throw new MissingTensorError(name, 'required by the model spec');
    if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) {
      throw new ShapeError(
        `tensor '${name}' has shape [${got.join(', ')}] but the model spec needs [${shape.join(', ')}]`,
      );
    }
  }
  const extra = Object.keys(shapes).filter((n) => !(n in want));
  if (extra.length) {
    throw new SpecError(
      `unexpected tensor(s) not used by the model spec: ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', …' : ''}`,
    );
  }
}

/** Shapes of a tensor map, for {@link checkTensors}. */
export function shapesOf(tensors: TensorMap): Record<string, number[]> {
  return Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, t.shape]));
}
