export * from './diff';
export * from './report';
export * from './stack';
export * from './stream';
export * from './truth';
export * from './churn';
