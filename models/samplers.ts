// The sampler names a user can choose (the dit-sampler node's enum), shared by the families.

/** Samplers of rectified-flow models; Stable Diffusion packages accept only 'euler' (euler-discrete). */
export type SamplerName = 'euler' | 'heun' | 'unipc';

/** Valid sampler names, in the order error messages list them. */
export const SAMPLERS: readonly SamplerName[] = ['euler', 'heun', 'unipc'];
