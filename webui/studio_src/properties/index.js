import ProjectPropertiesProvider from './provider';

export default {
  __init__: ['projectPropertiesProvider'],
  projectPropertiesProvider: ['type', ProjectPropertiesProvider],
};
