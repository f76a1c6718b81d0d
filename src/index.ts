export * from './sentinel-tvm';
export * from './protected-role';
