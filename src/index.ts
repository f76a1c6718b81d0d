export * from './sentinel-tvm';
export * from './tvm-reference';
export * from './protected-role';
export * from './principal-pattern';
export * from './revocation';
export * from './spoke';
export * from './session-authorizer';
